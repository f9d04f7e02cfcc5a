using System.Runtime.InteropServices;
using System.Text;

namespace OnnxQuant.Runtime.Diffusion;

/// <summary>
/// Writes a float32 array as a .npy file (format version 1.0: magic, header length, the dict NumPy writes, padded to
/// 64 bytes), through a temporary file renamed into place so a failed write leaves nothing behind.
/// </summary>
public static class NpyWriter
{
    public static void WriteFloats(string path, ReadOnlySpan<float> values, IReadOnlyList<long> shape)
    {
        long expected = shape.Aggregate(1L, (a, b) => a * b);
        if (expected != values.Length) throw new ArgumentException($"Shape [{string.Join(",", shape)}] holds {expected} values, not {values.Length}.", nameof(shape));
        string dims = shape.Count == 1 ? $"({shape[0]},)" : "(" + string.Join(", ", shape) + ")";
        string dict = $"{{'descr': '<f4', 'fortran_order': False, 'shape': {dims}, }}";
        int total = 10 + dict.Length + 1;
        int padded = (total + 63) / 64 * 64;
        string header = dict + new string(' ', padded - total) + "\n";
        string full = Path.GetFullPath(path);
        string temp = full + ".tmp-" + Environment.ProcessId;
        try
        {
            using (var s = File.Create(temp))
            {
                s.Write([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0]);
                s.Write(BitConverter.GetBytes((ushort)header.Length));
                s.Write(Encoding.Latin1.GetBytes(header));
                if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("Writing .npy files needs a little-endian machine.");
                s.Write(MemoryMarshal.AsBytes(values));
            }
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }
}
