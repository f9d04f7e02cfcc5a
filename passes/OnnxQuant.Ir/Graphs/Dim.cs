namespace OnnxQuant.Ir;

/// <summary>
/// One dimension of a value's shape: a known size, a symbolic name (<c>batch</c>, <c>seq</c>), or unknown.
/// <see cref="Denotation"/> is ONNX's optional semantic label, kept for round trips.
/// </summary>
public readonly record struct Dim(long? Value, string? Param, string? Denotation = null)
{
    public static Dim Known(long value) => new(value, null);
    public static Dim Symbolic(string name) => new(null, name);
    public static readonly Dim Unknown = new(null, null);

    public bool IsKnown => Value.HasValue;

    public static implicit operator Dim(long value) => Known(value);

    /// <summary>A symbolic dimension, so shapes read as <c>("batch", 4)</c> in code that builds graphs.</summary>
    public static implicit operator Dim(string param) => Symbolic(param);

    public override string ToString() => Value?.ToString() ?? Param ?? "?";
}
