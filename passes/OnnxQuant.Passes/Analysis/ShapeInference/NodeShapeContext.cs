using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Analysis.ShapeInference;

/// <summary>
/// What a shape rule sees of one node: its inputs' types, shapes and (for small integer values) contents, its
/// attributes and the opset; and where it records the types it infers for the outputs. Rules only record; merging
/// with the types the model declares happens in <see cref="ShapeInference"/>.
/// </summary>
internal sealed class NodeShapeContext
{
    private readonly SymbolicEvaluator _evaluator;

    public NodeShapeContext(Node node, int opset, SymbolicEvaluator evaluator)
    {
        Node = node;
        Opset = opset;
        _evaluator = evaluator;
        Results = new IrType?[node.Outputs.Count];
    }

    public Node Node { get; }

    /// <summary>The opset of the node's domain (default-domain opset for ONNX ops).</summary>
    public int Opset { get; }

    public SymbolicEvaluator Evaluator => _evaluator;

    /// <summary>Inferred output types, null where nothing was inferred.</summary>
    public IrType?[] Results { get; }

    public int InputCount => Node.Inputs.Count;
    public int OutputCount => Node.Outputs.Count;

    public Value? Input(int i) => Node.Input(i);
    public bool Has(int i) => Node.Input(i) is not null;
    public bool HasOutput(int i) => i < Node.Outputs.Count && Node.Outputs[i] is not null;

    /// <summary>The input's type (tensors, sequences …); constants as tensor types.</summary>
    public IrType? TypeOf(int i) => Node.Input(i) is not { } v ? null
        : v.Const is { } t ? new TensorType(t.ElementType, new Shape(t.Dims.ToArray())) : v.Type is UnspecifiedType ? null : v.Type;

    public DataType? ElementType(int i) => Node.Input(i) is { } v ? ElementTypeOf(v) : null;
    public Shape? ShapeOf(int i) => Node.Input(i) is { } v ? ShapeOfValue(v) : null;
    public int? RankOf(int i) => ShapeOf(i)?.Rank;

    public static DataType? ElementTypeOf(Value v)
    {
        var t = v.ElementType;
        return t is null or DataType.Undefined ? null : t;
    }

    public static Shape? ShapeOfValue(Value v) => v.Const is not null || v.Type is TensorType ? v.Shape : null;

    /// <summary>The input's contents as far as known (small integer values only).</summary>
    public SymbolicTensor? Data(int i) => _evaluator.Evaluate(Node.Input(i));

    /// <summary>The input's contents as numbers, when every element is known.</summary>
    public long[]? Longs(int i) => Data(i)?.ToLongs();

    /// <summary>The constant tensor behind an input (initializer or Constant node), any element type.</summary>
    public Tensor? Constant(int i) => Node.Input(i) is { } v ? ConstantNode.ConstantOf(v) : null;

    /// <summary>A constant floating-point (or integer) input as doubles, e.g. Resize scales.</summary>
    public double[]? Doubles(int i)
    {
        if (Constant(i) is not { } t || t.ElementType == DataType.String || t.ElementCount > SymbolicTensor.MaxElements) return null;
        try { return t.ToDoubleArray(); }
        catch (NotSupportedException) { return null; }
    }

    public long Int(string name, long fallback) => Node.GetInt(name, fallback);
    public IReadOnlyList<long>? Ints(string name) => Node.GetAttribute(name)?.Value is long[] v ? v : null;
    public string String(string name, string fallback) =>
        Node.GetAttribute(name) is { Value: byte[] } a ? a.AsString() : fallback;

    public void Set(int output, DataType? elementType, Shape? shape)
    {
        if (output >= Results.Length || elementType is null or DataType.Undefined) return;
        Results[output] = new TensorType(elementType.Value, shape);
    }

    public void Set(int output, DataType? elementType, IEnumerable<Dim> dims) => Set(output, elementType, new Shape(dims));

    public void Set(int output, IrType? type)
    {
        if (output < Results.Length && type is not null) Results[output] = type;
    }

    /// <summary>Output <paramref name="output"/> has the type and shape of input <paramref name="input"/>.</summary>
    public void SameAsInput(int output, int input = 0, DataType? elementType = null) =>
        Set(output, elementType ?? ElementType(input), ShapeOf(input) is { } s ? new Shape(s.Dims.Select(DimMath.Clean)) : null);

    /// <summary>Normalizes a possibly negative axis; null when out of range.</summary>
    public static int? Axis(long axis, int rank)
    {
        long a = axis < 0 ? axis + rank : axis;
        return a >= 0 && a < rank ? (int)a : null;
    }
}
