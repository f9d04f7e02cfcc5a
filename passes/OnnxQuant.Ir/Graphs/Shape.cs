namespace OnnxQuant.Ir;

/// <summary>An immutable tensor shape whose dimensions may be symbolic or unknown.</summary>
public sealed class Shape : IEquatable<Shape>
{
    private readonly Dim[] _dims;

    public Shape(IEnumerable<Dim> dims) => _dims = dims.ToArray();
    public Shape(params long[] dims) => _dims = dims.Select(Dim.Known).ToArray();

    public IReadOnlyList<Dim> Dims => _dims;
    public int Rank => _dims.Length;
    public Dim this[int index] => _dims[index];

    /// <summary>True when every dimension has a known size.</summary>
    public bool IsStatic => _dims.All(d => d.IsKnown);

    /// <summary>The sizes, when all are known.</summary>
    public long[]? ToArray() => IsStatic ? _dims.Select(d => d.Value!.Value).ToArray() : null;

    public bool Equals(Shape? other) => other is not null && _dims.AsSpan().SequenceEqual(other._dims);
    public override bool Equals(object? obj) => Equals(obj as Shape);
    public override int GetHashCode() => _dims.Aggregate(_dims.Length, (h, d) => HashCode.Combine(h, d));
    public override string ToString() => "[" + string.Join(",", _dims) + "]";
}
