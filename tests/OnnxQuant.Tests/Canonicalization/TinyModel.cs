using OnnxQuant.Tests.Support;
using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Passes;

namespace OnnxQuant.Tests.Canonicalization;

/// <summary>
/// Builds the small models the canonicalization tests start from, one node at a time, and the checks they share
/// (op counts, copies to compare against, running a pass).
/// </summary>
internal sealed class TinyModel
{
    public TinyModel(long opset = 17)
    {
        Model = new Model(new Graph { Name = "tiny" }) { IrVersion = 8 };
        Model.OpsetImports.Add(new OpsetImport("", opset));
    }

    public Model Model { get; }
    public Graph Graph => Model.Graph;

    public Value Input(string name, DataType type, params long[] dims) => Graph.AddInput(name, new TensorType(type, new Shape(dims)));

    public Value Input(string name, DataType type, Shape shape) => Graph.AddInput(name, new TensorType(type, shape));

    public Value Const(Tensor tensor, string? name = null) => Graph.AddConstant(tensor, name);

    public Value Const(params float[] values) => Graph.AddConstant(Tensor.FromFloats(values, values.Length));

    public Value Ints(params long[] values) => Graph.AddConstant(Tensor.FromInt64s(values, values.Length));

    /// <summary>Appends a node with one output and returns that output.</summary>
    public Value Op(string opType, Value?[] inputs, params Attribute[] attributes) => Node(opType, inputs, 1, attributes).Output;

    public Value Op(string opType, params Value?[] inputs) => Op(opType, inputs, []);

    public Node Node(string opType, Value?[] inputs, int outputs = 1, params Attribute[] attributes) =>
        Graph.Append(new Node(opType, inputs, outputs, attributes: attributes));

    /// <summary>
    /// An empty subgraph held by <paramref name="owner"/>'s attribute. Attached before it is filled, so the names its
    /// values get are unique across the model (a graph filled on its own names values in its own scope).
    /// </summary>
    public Graph Subgraph(Node owner, string attribute)
    {
        var g = new Graph { Name = attribute };
        owner.SetAttribute(Attribute.FromGraph(attribute, g));
        return g;
    }

    public Value Output(Value value, DataType? type = null, params long[] dims)
    {
        if (type is { } t) value.Type = new TensorType(t, new Shape(dims));
        Graph.Outputs.Add(value);
        return value;
    }

    /// <summary>A copy through the writer and reader (Constant nodes kept as nodes), to compare against later.</summary>
    public Model Copy() => Canon.Copy(Model);
}

/// <summary>Helpers shared by the canonicalization tests.</summary>
internal static class Canon
{
    public static Model Copy(Model model) =>
        OnnxReader.Read(OnnxWriter.ToBytes(model), options: new OnnxReadOptions { LiftConstantNodes = false });

    public static int Count(Model model, string opType) =>
        model.AllGraphs().Sum(g => g.Nodes.Count(n => n.OpType == opType));

    public static int NodeCount(Model model) => model.AllGraphs().Sum(g => g.NodeCount);

    /// <summary>Runs a pass with these options on a fresh context (then the verifier) and returns whether it changed the model and the context.</summary>
    public static (bool Modified, PassContext Context) Run<TOptions>(Pass<TOptions> pass, Model model, TOptions? options = null)
        where TOptions : class, new()
    {
        var context = new PassContext { CurrentPass = null };
        var result = VerifiedPass.Run(pass, model, options ?? new TOptions(), context);
        return (result.Modified, context);
    }

    public static long Counter(PassContext context, string name) => context.Counters.GetValueOrDefault(name);

    /// <summary>Every value a node of the model reads is defined in the model (no dangling reference survived a pass).</summary>
    public static void AssertWellFormed(Model model)
    {
        foreach (var g in model.AllGraphs())
            foreach (var n in g.Nodes)
                foreach (var v in n.Inputs)
                    if (v is not null)
                        Assert.True(v.Graph is not null && (v.Producer is null || v.Producer.Graph is not null), $"{n} reads detached value {v}.");
        // Names must stay unique: writing and reading back resolves every name to exactly one value.
        using var copy = Copy(model);
    }
}
