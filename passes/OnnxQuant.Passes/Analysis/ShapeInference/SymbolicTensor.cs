using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Analysis.ShapeInference;

/// <summary>
/// The contents of a small integer (or bool) tensor as far as they are known: each element a known number, a
/// symbol (a dimension of some value, e.g. <c>batch</c>) or unknown. This is how shape computations
/// (<c>Shape → Gather → Concat → Reshape</c>) are followed without running them. Dimensions of the tensor itself are
/// always known.
/// </summary>
internal sealed class SymbolicTensor
{
    /// <summary>Larger integer tensors (weights, token tables) are not tracked: shape computations are tiny.</summary>
    public const int MaxElements = 4096;

    public SymbolicTensor(DataType elementType, long[] dims, Dim[] elements)
    {
        ElementType = elementType;
        Dims = dims;
        Elements = elements;
    }

    public DataType ElementType { get; }
    public long[] Dims { get; }
    public Dim[] Elements { get; }
    public int Rank => Dims.Length;

    public bool IsFullyKnown => Elements.All(e => e.IsKnown);

    /// <summary>The elements as numbers, when all are known.</summary>
    public long[]? ToLongs() => IsFullyKnown ? Elements.Select(e => e.Value!.Value).ToArray() : null;

    public static bool IsTracked(DataType type) => type is DataType.Int64 or DataType.Int32 or DataType.Int16
        or DataType.Int8 or DataType.UInt8 or DataType.UInt16 or DataType.UInt32 or DataType.UInt64 or DataType.Bool;

    public static SymbolicTensor? FromTensor(Tensor t)
    {
        if (!IsTracked(t.ElementType) || t.ElementCount > MaxElements) return null;
        long[] values;
        try { values = t.ToInt64Array(); }
        catch (OverflowException) { return null; }
        return new SymbolicTensor(t.ElementType, t.Dims.ToArray(), values.Select(Dim.Known).ToArray());
    }

    public static SymbolicTensor Vector(DataType type, IEnumerable<Dim> elements)
    {
        var e = elements.Select(DimMath.Clean).ToArray();
        return new SymbolicTensor(type, [e.Length], e);
    }

    public SymbolicTensor WithDims(long[] dims) => new(ElementType, dims, Elements);

    public override string ToString() => $"{ElementType.OnnxName()}{Tensor.FormatDims(Dims)}{{{string.Join(",", Elements)}}}";
}
