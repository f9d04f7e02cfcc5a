using OnnxQuant.Ir;

namespace OnnxQuant.Tests.Canonicalization;

/// <summary>A small model built in code for the shape inference tests; every node output is a graph output.</summary>
internal sealed class ShapeInferenceTestModel
{
    private readonly Random _random = new(7);

    public ShapeInferenceTestModel(int opset = 17, bool microsoft = false)
    {
        Graph = new Graph { Name = "test" };
        Model = new Model(Graph) { IrVersion = 10 };
        Model.OpsetImports.Add(new OpsetImport("", opset));
        if (microsoft) Model.OpsetImports.Add(new OpsetImport("com.microsoft", 1));
        Opset = opset;
    }

    public Graph Graph { get; }
    public Model Model { get; }

    /// <summary>Values whose size depends on data (NonZero …): only what inference knows of them is checked.</summary>
    public List<Value> DataDependent { get; } = [];

    /// <summary>Feeds to use instead of seeded samples (e.g. valid indices).</summary>
    public Dictionary<string, Tensor>? Feeds { get; set; }
    public int Opset { get; }

    public Value Input(string name, DataType type, params long[] dims) =>
        Graph.AddInput(name, new TensorType(type, new Shape(dims)));

    public Value Input(string name, DataType type, Shape shape) => Graph.AddInput(name, new TensorType(type, shape));

    public Value Ints(params long[] values) => Graph.AddConstant(Tensor.FromInt64s(values, values.Length));

    public Value Scalar(long value) => Graph.AddConstant(Tensor.FromInt64s([value]));

    public Value FloatScalar(float value) => Graph.AddConstant(Tensor.FromFloats([value]));

    public Value Floats(params long[] dims)
    {
        long n = dims.Aggregate(1L, (a, b) => a * b);
        var data = new float[n];
        for (int i = 0; i < n; i++) data[i] = (float)(_random.NextDouble() * 2 - 1);
        return Graph.AddConstant(Tensor.FromFloats(data, dims));
    }

    public Value Floats(float[] values) => Graph.AddConstant(Tensor.FromFloats(values, values.Length));

    public Value Constant(Tensor t) => Graph.AddConstant(t);

    /// <summary>Appends a node; its outputs become graph outputs so ORT computes them.</summary>
    public Value[] Ops(string op, Value?[] inputs, int outputs, params Attribute[] attributes) =>
        OpsIn("", op, inputs, outputs, attributes);

    public Value[] OpsIn(string domain, string op, Value?[] inputs, int outputs, params Attribute[] attributes)
    {
        var node = Graph.Append(new Node(op, inputs, outputs, domain, attributes));
        foreach (var o in node.Outputs) Graph.Outputs.Add(o!);
        return node.Outputs.Select(o => o!).ToArray();
    }

    public Value Op(string op, Value?[] inputs, params Attribute[] attributes) => Ops(op, inputs, 1, attributes)[0];

    public Value OpIn(string domain, string op, Value?[] inputs, params Attribute[] attributes) =>
        OpsIn(domain, op, inputs, 1, attributes)[0];
}
