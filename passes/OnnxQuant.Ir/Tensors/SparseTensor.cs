namespace OnnxQuant.Ir;

/// <summary>
/// The sparse form of a constant (ONNX <c>SparseTensorProto</c>): non-zero values and their indices, either
/// [NNZ] linear indices or [NNZ, rank] coordinates. Kept beside the dense tensor so that writing preserves it.
/// </summary>
public sealed record SparseTensor(Tensor Values, Tensor Indices, IReadOnlyList<long> Dims)
{
    /// <summary>Scatters the values into a dense tensor (zero elsewhere), checking every index against the shape.</summary>
    public Tensor ToDense()
    {
        var type = Values.ElementType;
        int bits = type.BitWidth();
        if (bits % 8 != 0) throw new NotSupportedException($"Sparse {type.OnnxName()} tensors are not supported.");
        int width = bits / 8;
        long count = 1;
        foreach (long d in Dims) count = checked(count * d);
        long nnz = Values.ElementCount;
        long[] idx = Indices.ElementType == DataType.Int64
            ? Indices.AsSpan<long>().ToArray()
            : throw new InvalidDataException("Sparse tensor indices must be int64.");
        bool linear = Indices.Rank == 1;
        if (linear ? idx.Length != nnz : (Indices.Rank != 2 || Indices.Dims[0] != nnz || Indices.Dims[1] != Dims.Count))
            throw new InvalidDataException(
                $"Sparse tensor indices of shape {Tensor.FormatDims(Indices.Dims)} do not fit {nnz} values of a rank-{Dims.Count} tensor.");
        var dense = new byte[checked(count * width)];
        var src = Values.RawData.Span;
        for (long i = 0; i < nnz; i++)
        {
            long flat;
            if (linear) flat = idx[i];
            else
            {
                flat = 0;
                for (int a = 0; a < Dims.Count; a++)
                {
                    long c = idx[i * Dims.Count + a];
                    if (c < 0 || c >= Dims[a]) throw new InvalidDataException($"Sparse tensor index {c} is outside dimension {a} of size {Dims[a]}.");
                    flat = flat * Dims[a] + c;
                }
            }
            if (flat < 0 || flat >= count) throw new InvalidDataException($"Sparse tensor index {flat} is outside {count} elements.");
            src.Slice((int)(i * width), width).CopyTo(dense.AsSpan((int)(flat * width), width));
        }
        return new Tensor(type, Dims.ToArray(), new MemoryTensorStorage(dense)).WithSparseForm(this);
    }
}
