using System.Text;

namespace OnnxQuant.Tests.Calibration;

/// <summary>Writes .npy files byte by byte as the NumPy format spec describes (magic, version, header length, dict, padding).</summary>
internal static class NpyFiles
{
    public static void Write(string path, string descr, long[] shape, byte[] data, int version = 1, bool fortranOrder = false)
    {
        string dims = shape.Length == 1 ? $"({shape[0]},)" : "(" + string.Join(", ", shape) + ")";
        string dict = $"{{'descr': '{descr}', 'fortran_order': {(fortranOrder ? "True" : "False")}, 'shape': {dims}, }}";
        int prefix = version == 1 ? 10 : 12;
        int total = prefix + dict.Length + 1;
        int padded = (total + 63) / 64 * 64;
        string header = dict + new string(' ', padded - total) + "\n";
        using var s = File.Create(path);
        s.Write([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', (byte)version, 0]);
        if (version == 1) s.Write(BitConverter.GetBytes((ushort)header.Length));
        else s.Write(BitConverter.GetBytes((uint)header.Length));
        s.Write((version == 3 ? Encoding.UTF8 : Encoding.Latin1).GetBytes(header));
        s.Write(data);
    }

    public static void WriteFloats(string path, long[] shape, float[] values, int version = 1) =>
        Write(path, "<f4", shape, values.SelectMany(BitConverter.GetBytes).ToArray(), version);

    public static void WriteInt64s(string path, long[] shape, long[] values) =>
        Write(path, "<i8", shape, values.SelectMany(BitConverter.GetBytes).ToArray());
}
