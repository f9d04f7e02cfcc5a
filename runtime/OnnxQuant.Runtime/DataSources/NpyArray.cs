using System.Text;
using Microsoft.Win32.SafeHandles;
using OnnxQuant.Ir;

namespace OnnxQuant.Runtime.DataSources;

/// <summary>
/// A NumPy <c>.npy</c> file (format versions 1.0, 2.0 and 3.0), read by positioned reads: the header is parsed at
/// open, and samples (slices along axis 0) are read on demand, so a 5000-sample file costs no more memory than a
/// 256-sample one. Little-endian (or byte-order-free) arrays in C order of bool, int8…int64, uint8…uint64,
/// float16, float32 and float64 are supported; big-endian, Fortran-order, structured and object arrays are refused
/// with a message saying how to re-save them.
/// </summary>
/// <remarks>
/// Why positioned reads rather than a memory map: mapped pages that were read count toward the process's resident
/// memory (VmHWM) until the map is closed, so mapping a large file makes calibration memory grow with the number of
/// samples; <see cref="RandomAccess.Read(SafeFileHandle, Span{byte}, long)"/> goes through the page cache, which
/// the kernel reclaims.
/// </remarks>
public sealed class NpyArray : IDisposable
{
    private static readonly byte[] Magic = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    private readonly SafeFileHandle _handle;

    private NpyArray(string path, SafeFileHandle handle, DataType type, string descr, long[] shape, long dataOffset, int version)
    {
        Path = path;
        _handle = handle;
        ElementType = type;
        Descr = descr;
        Shape = shape;
        DataOffset = dataOffset;
        Version = version;
    }

    public string Path { get; }
    public DataType ElementType { get; }

    /// <summary>NumPy's type string, e.g. <c>&lt;f4</c> (for messages).</summary>
    public string Descr { get; }

    public IReadOnlyList<long> Shape { get; }

    /// <summary>Byte offset of the data (after the header, a multiple of 64 for files NumPy writes).</summary>
    public long DataOffset { get; }

    /// <summary>Major format version (1, 2 or 3).</summary>
    public int Version { get; }

    /// <summary>Length of axis 0 (the samples).</summary>
    public long Rows => Shape.Count == 0 ? 1 : Shape[0];

    /// <summary>Dimensions of one row (the shape without axis 0).</summary>
    public long[] RowDims => Shape.Skip(1).ToArray();

    public long RowBytes => ElementType.ByteLength(RowDims.Aggregate(1L, (a, b) => a * b));

    public static NpyArray Open(string path)
    {
        SafeFileHandle handle;
        try { handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new OnnxQuantException($"Cannot open {path}: {e.Message}", e);
        }
        try
        {
            var array = ReadHeader(path, handle);
            handle = null!;
            return array;
        }
        finally
        {
            handle?.Dispose();
        }
    }

    /// <summary>Reads rows [start, start + count) into <paramref name="destination"/> (count·RowBytes bytes).</summary>
    public void ReadRows(long start, int count, Span<byte> destination)
    {
        if (start < 0 || count < 0 || start + count > Rows)
            throw new ArgumentOutOfRangeException(nameof(start), $"Rows {start}..{start + count} are outside the {Rows} rows of {Path}.");
        long bytes = RowBytes * count;
        if (destination.Length != bytes) throw new ArgumentException($"Expected a {bytes}-byte destination.", nameof(destination));
        long offset = DataOffset + start * RowBytes;
        while (!destination.IsEmpty)
        {
            int read;
            try { read = RandomAccess.Read(_handle, destination, offset); }
            catch (IOException e) { throw new OnnxQuantException($"Cannot read {Path}: {e.Message}", e); }
            if (read == 0) throw new OnnxQuantException($"{Path} ended early (truncated while reading?).");
            destination = destination[read..];
            offset += read;
        }
    }

    /// <summary>Rows [start, start + count) as a tensor of shape [count, …RowDims].</summary>
    public Tensor ReadRowsTensor(long start, int count)
    {
        var bytes = new byte[RowBytes * count];
        ReadRows(start, count, bytes);
        return Tensor.FromRaw(ElementType, [count, .. RowDims], bytes);
    }

    /// <summary>The whole array (small files and tests).</summary>
    public Tensor ReadAll()
    {
        long n = Shape.Aggregate(1L, (a, b) => a * b);
        var bytes = new byte[ElementType.ByteLength(n)];
        if (Shape.Count == 0)
        {
            RandomAccess.Read(_handle, bytes, DataOffset);
            return Tensor.FromRaw(ElementType, [], bytes);
        }
        ReadRows(0, (int)Rows, bytes);
        return Tensor.FromRaw(ElementType, Shape.ToArray(), bytes);
    }

    public void Dispose() => _handle.Dispose();

    private static NpyArray ReadHeader(string path, SafeFileHandle handle)
    {
        long length = RandomAccess.GetLength(handle);
        var prefix = new byte[12];
        int got = RandomAccess.Read(handle, prefix, 0);
        if (got < 10 || !prefix.AsSpan(0, 6).SequenceEqual(Magic))
            throw new OnnxQuantException($"{path} is not a NumPy .npy file (no \\x93NUMPY magic). Save arrays with numpy.save.");
        int major = prefix[6];
        int headerLength, headerStart;
        switch (major)
        {
            case 1:
                headerLength = prefix[8] | prefix[9] << 8;
                headerStart = 10;
                break;
            case 2 or 3:
                if (got < 12) throw new OnnxQuantException($"{path}: the .npy header is truncated.");
                uint len = BitConverter.ToUInt32(prefix, 8);
                if (len > 1 << 24) throw new OnnxQuantException($"{path}: the .npy header claims {len} bytes; the file is damaged.");
                headerLength = (int)len;
                headerStart = 12;
                break;
            default:
                throw new OnnxQuantException($"{path}: .npy format version {major}.{prefix[7]} is not supported (versions 1.0, 2.0 and 3.0 are).");
        }
        if (headerStart + headerLength > length)
            throw new OnnxQuantException($"{path}: the .npy header is truncated.");
        var headerBytes = new byte[headerLength];
        RandomAccess.Read(handle, headerBytes, headerStart);
        string header = major == 3 ? Encoding.UTF8.GetString(headerBytes) : Encoding.Latin1.GetString(headerBytes);
        var (descr, fortran, shape) = NpyHeader.Parse(header, path);
        var type = ElementTypeOf(descr, path);
        if (fortran && shape.Count(d => d != 1) > 1)
            throw new OnnxQuantException($"{path} is stored in Fortran order (fortran_order: True); save it in C order: numpy.save(path, numpy.ascontiguousarray(a)).");
        long dataOffset = headerStart + headerLength;
        long elements = shape.Aggregate(1L, (a, b) => checked(a * b));
        long bytes = type.ByteLength(elements);
        if (length - dataOffset < bytes)
            throw new OnnxQuantException($"{path} is truncated: its header says {descr} [{string.Join(",", shape)}] ({bytes} bytes) but only {length - dataOffset} bytes of data follow.");
        return new NpyArray(path, handle, type, descr, shape, dataOffset, major);
    }

    /// <summary>The ONNX element type of a NumPy type string; refuses big-endian and non-numeric types.</summary>
    public static DataType ElementTypeOf(string descr, string path)
    {
        if (descr.Length < 2) throw Unsupported(descr, path);
        char order = descr[0];
        string code = descr[1..];
        DataType type = code switch
        {
            "b1" => DataType.Bool,
            "i1" => DataType.Int8,
            "u1" => DataType.UInt8,
            "i2" => DataType.Int16,
            "u2" => DataType.UInt16,
            "i4" => DataType.Int32,
            "u4" => DataType.UInt32,
            "i8" => DataType.Int64,
            "u8" => DataType.UInt64,
            "f2" => DataType.Float16,
            "f4" => DataType.Float,
            "f8" => DataType.Double,
            _ => throw Unsupported(descr, path),
        };
        bool multiByte = type.BitWidth() > 8;
        if (order == '>' && multiByte)
            throw new OnnxQuantException($"{path} holds big-endian data ('{descr}'); save it little-endian: numpy.save(path, a.astype('<{code}')).");
        if (order is not ('<' or '|' or '=' or '>'))
            throw Unsupported(descr, path);
        return type;
    }

    private static OnnxQuantException Unsupported(string descr, string path) =>
        new($"{path} holds NumPy type '{descr}', which calibration cannot use; save numbers as bool, int8…int64, uint8…uint64, float16, float32 or float64.");
}
