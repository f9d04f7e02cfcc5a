using System.Runtime.InteropServices;

namespace OnnxQuant.Ir;

/// <summary>
/// An immutable tensor: element type, dimensions and bytes in ONNX's packed raw layout. Tensors carry no name: a
/// constant is a <see cref="Value"/> whose <see cref="Value.Const"/> is a tensor, so passes find weights by object
/// identity, never by name. A pass that changes a weight builds a new tensor.
/// </summary>
public sealed class Tensor
{
    private readonly long[] _dims;
    private readonly TensorStorage? _storage;
    private readonly byte[][]? _strings;

    public DataType ElementType { get; }
    public IReadOnlyList<long> Dims => _dims;
    public int Rank => _dims.Length;
    public long ElementCount { get; }

    /// <summary>Free text from the model, carried through unchanged.</summary>
    public string? DocString { get; private set; }

    /// <summary>The tensor's <c>metadata_props</c>, carried through unchanged.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Metadata { get; private set; } = [];

    /// <summary>Set for tensors read from a sparse initializer or attribute, so the writer can write them sparse again.</summary>
    public SparseTensor? SparseForm { get; private set; }

    /// <summary>Fields of the TensorProto our schema does not define (a newer ONNX's), written back unchanged: see Serialization.UnknownFields.</summary>
    internal byte[]? UnknownFields { get; private set; }

    public Tensor(DataType elementType, ReadOnlySpan<long> dims, TensorStorage storage)
    {
        if (elementType == DataType.String) throw new ArgumentException("Use FromStrings for string tensors.");
        ElementType = elementType;
        _dims = ValidateDims(dims);
        ElementCount = CountOf(_dims);
        long expected = elementType.ByteLength(ElementCount);
        if (storage.Length != expected)
            throw new ArgumentException(
                $"A {elementType.OnnxName()} tensor of shape {FormatDims(_dims)} needs {expected} bytes but its data has {storage.Length}.");
        _storage = storage;
    }

    private Tensor(long[] dims, byte[][] strings)
    {
        ElementType = DataType.String;
        _dims = dims;
        ElementCount = CountOf(dims);
        if (strings.Length != ElementCount)
            throw new ArgumentException($"A string tensor of shape {FormatDims(dims)} needs {ElementCount} strings but has {strings.Length}.");
        _strings = strings;
    }

    public static Tensor FromRaw(DataType elementType, ReadOnlySpan<long> dims, ReadOnlyMemory<byte> raw) =>
        new(elementType, dims, new MemoryTensorStorage(raw));

    public static Tensor FromStrings(ReadOnlySpan<long> dims, IEnumerable<byte[]> strings) =>
        new(ValidateDims(dims), strings.Select(s => (byte[])s.Clone()).ToArray());

    public static Tensor FromStrings(ReadOnlySpan<long> dims, IEnumerable<string> strings) =>
        new(ValidateDims(dims), strings.Select(System.Text.Encoding.UTF8.GetBytes).ToArray());

    /// <summary>A tensor over a copy of <paramref name="data"/>, whose element type must match <typeparamref name="T"/>'s width.</summary>
    public static Tensor FromSpan<T>(DataType elementType, ReadOnlySpan<T> data, ReadOnlySpan<long> dims) where T : unmanaged
    {
        if (Marshal.SizeOf<T>() * 8 != elementType.BitWidth())
            throw new ArgumentException($"{typeof(T).Name} does not match the width of {elementType.OnnxName()}.");
        return FromRaw(elementType, dims, MemoryMarshal.AsBytes(data).ToArray());
    }

    public static Tensor FromFloats(ReadOnlySpan<float> data, params long[] dims) => FromSpan(DataType.Float, data, dims);
    public static Tensor FromDoubles(ReadOnlySpan<double> data, params long[] dims) => FromSpan(DataType.Double, data, dims);
    public static Tensor FromInt64s(ReadOnlySpan<long> data, params long[] dims) => FromSpan(DataType.Int64, data, dims);
    public static Tensor FromInt32s(ReadOnlySpan<int> data, params long[] dims) => FromSpan(DataType.Int32, data, dims);
    public static Tensor Scalar(float value) => FromFloats([value]);
    public static Tensor Scalar(long value) => FromInt64s([value]);

    /// <summary>The storage (in memory or mapped); null for string tensors.</summary>
    public TensorStorage? Storage => _storage;

    public bool IsMapped => _storage?.IsMapped ?? false;

    /// <summary>Bytes in packed raw layout. Touching them reads mapped data from disk.</summary>
    public ReadOnlyMemory<byte> RawData => _storage?.Memory ?? throw new InvalidOperationException("String tensors have no raw data.");

    public long ByteLength => _storage?.Length ?? _strings!.Sum(s => (long)s.Length);

    public IReadOnlyList<byte[]> Strings => _strings ?? throw new InvalidOperationException($"A {ElementType.OnnxName()} tensor holds no strings.");

    /// <summary>A typed read-only view; <typeparamref name="T"/> must have the element's width (float for Float, long for Int64 …).</summary>
    public ReadOnlySpan<T> AsSpan<T>() where T : unmanaged
    {
        if (Marshal.SizeOf<T>() * 8 != ElementType.BitWidth())
            throw new InvalidOperationException($"Cannot view a {ElementType.OnnxName()} tensor as {typeof(T).Name}.");
        return MemoryMarshal.Cast<byte, T>(RawData.Span);
    }

    /// <summary>The same data with another doc string and metadata (no copy of the data).</summary>
    public Tensor WithAnnotations(string? docString, IReadOnlyList<KeyValuePair<string, string>> metadata)
    {
        var copy = _strings is not null ? new Tensor(_dims, _strings) : new Tensor(ElementType, _dims, _storage!);
        copy.UnknownFields = UnknownFields;
        return copy.Init(docString, metadata, SparseForm);
    }

    /// <summary>The same tensor carrying the unknown protobuf fields it was read with (no copy of the data).</summary>
    internal Tensor WithUnknownFields(byte[]? unknownFields)
    {
        var copy = WithAnnotations(DocString, Metadata);
        copy.UnknownFields = unknownFields;
        return copy;
    }

    /// <summary>The same data, remembering the sparse form it was read from (so it is written sparse again).</summary>
    public Tensor WithSparseForm(SparseTensor sparse) => WithAnnotations(DocString, Metadata).Init(DocString, Metadata, sparse);

    private Tensor Init(string? docString, IReadOnlyList<KeyValuePair<string, string>> metadata, SparseTensor? sparse)
    {
        DocString = docString;
        Metadata = metadata;
        SparseForm = sparse;
        return this;
    }

    /// <summary>Same bytes, other dimensions (no copy).</summary>
    public Tensor Reshape(ReadOnlySpan<long> dims)
    {
        long[] d = ValidateDims(dims);
        if (CountOf(d) != ElementCount)
            throw new ArgumentException($"Cannot reshape {FormatDims(_dims)} ({ElementCount} elements) to {FormatDims(d)}.");
        return _strings is not null ? new Tensor(d, _strings) : new Tensor(ElementType, d, _storage!);
    }

    /// <summary>True when both tensors have the same type, dimensions and bytes.</summary>
    public bool ContentEquals(Tensor other)
    {
        if (ElementType != other.ElementType || !_dims.AsSpan().SequenceEqual(other._dims)) return false;
        if (_strings is not null)
            return _strings.Zip(other._strings!).All(p => p.First.AsSpan().SequenceEqual(p.Second));
        if (ByteLength != other.ByteLength) return false;
        if (ByteLength <= int.MaxValue) return RawData.Span.SequenceEqual(other.RawData.Span);
        throw new NotSupportedException("Comparing tensors over 2 GiB is not supported.");
    }

    public override string ToString() => $"{ElementType.OnnxName()}{FormatDims(_dims)}";

    public static string FormatDims(IReadOnlyList<long> dims) => "[" + string.Join(",", dims) + "]";

    private static long[] ValidateDims(ReadOnlySpan<long> dims)
    {
        foreach (long d in dims)
            if (d < 0) throw new ArgumentException($"Tensor dimensions must be non-negative, got {FormatDims(dims.ToArray())}.");
        return dims.ToArray();
    }

    private static long CountOf(long[] dims)
    {
        long n = 1;
        foreach (long d in dims) n = checked(n * d);
        return n;
    }
}
