using System.Text;

namespace OnnxQuant.Ir;

/// <summary>
/// A typed node attribute. The value's CLR type follows <see cref="Kind"/>: float, long, byte[] (strings are bytes in
/// ONNX), <see cref="Tensor"/>, <see cref="Graph"/>, <see cref="IrType"/>, or an array of those. A reference to an
/// attribute of the enclosing function (<see cref="RefAttrName"/>) has no value.
/// </summary>
public sealed class Attribute
{
    public Attribute(string name, AttributeKind kind, object? value, string? refAttrName = null)
    {
        Name = name;
        Kind = kind;
        Value = value;
        RefAttrName = refAttrName;
    }

    public string Name { get; }
    public AttributeKind Kind { get; }
    public object? Value { get; }
    public string? RefAttrName { get; }
    public string? DocString { get; init; }

    /// <summary>Fields of the AttributeProto our schema does not define (a newer ONNX's), written back unchanged: see Serialization.UnknownFields.</summary>
    internal byte[]? UnknownFields { get; init; }

    public static Attribute Float(string name, float value) => new(name, AttributeKind.Float, value);
    public static Attribute Int(string name, long value) => new(name, AttributeKind.Int, value);
    public static Attribute String(string name, string value) => new(name, AttributeKind.String, Encoding.UTF8.GetBytes(value));
    public static Attribute FromTensor(string name, Tensor value) =>
        new(name, value.SparseForm is null ? AttributeKind.Tensor : AttributeKind.SparseTensor, value);
    public static Attribute FromGraph(string name, Graph value) => new(name, AttributeKind.Graph, value);
    public static Attribute Floats(string name, params float[] values) => new(name, AttributeKind.Floats, values.ToArray());
    public static Attribute Ints(string name, params long[] values) => new(name, AttributeKind.Ints, values.ToArray());
    public static Attribute Strings(string name, params string[] values) =>
        new(name, AttributeKind.Strings, values.Select(Encoding.UTF8.GetBytes).ToArray());

    public float AsFloat() => Value is float f ? f : throw Mismatch("a float");
    public long AsInt() => Value is long i ? i : throw Mismatch("an int");
    public string AsString() => Value is byte[] s ? Encoding.UTF8.GetString(s) : throw Mismatch("a string");
    public Tensor AsTensor() => Value is Tensor t ? t : throw Mismatch("a tensor");
    public Graph AsGraph() => Value is Graph g ? g : throw Mismatch("a graph");
    public IReadOnlyList<float> AsFloats() => Value is float[] f ? f : throw Mismatch("floats");
    public IReadOnlyList<long> AsInts() => Value is long[] i ? i : throw Mismatch("ints");
    public IReadOnlyList<string> AsStrings() =>
        Value is byte[][] s ? s.Select(Encoding.UTF8.GetString).ToArray() : throw Mismatch("strings");

    /// <summary>The subgraphs this attribute holds (none, one, or a list).</summary>
    public IEnumerable<Graph> Graphs => Value switch
    {
        Graph g => [g],
        Graph[] gs => gs,
        _ => [],
    };

    // Our passes read attributes by the ONNX schema's names and types, so a mismatch means the model breaks the
    // schema (a damaged or hand-edited file): a user error that names the attribute, not a crash.
    private OnnxFormatException Mismatch(string wanted) =>
        new($"Attribute '{Name}' is {Kind} where ONNX expects {wanted}: the model does not follow the operator's schema. Re-export it, or fix that attribute's type.");

    public override string ToString() => Value switch
    {
        null => $"{Name}=@{RefAttrName}",
        byte[] s => $"{Name}=\"{Encoding.UTF8.GetString(s)}\"",
        long[] i => $"{Name}=[{string.Join(",", i)}]",
        float[] f => $"{Name}=[{string.Join(",", f.Select(x => x.ToString("R", System.Globalization.CultureInfo.InvariantCulture)))}]",
        float f => $"{Name}={f.ToString("R", System.Globalization.CultureInfo.InvariantCulture)}",
        Graph => $"{Name}=<graph>",
        _ => $"{Name}={Value}",
    };
}
