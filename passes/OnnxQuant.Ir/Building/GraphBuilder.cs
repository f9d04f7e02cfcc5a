using OnnxQuant.Ir.Verification;

namespace OnnxQuant.Ir.Building;

/// <summary>
/// Builds graphs in code, for tests and demo models:
/// <code>
/// var b = new GraphBuilder(opset: 17);
/// var x = b.Input("x", DataType.Float, "batch", 4);
/// var w = b.Constant(Tensor.FromFloats(data, 4, 2), "w");
/// var y = b.Op("Relu", b.Op("MatMul", x, w));
/// b.Output(y, "y");
/// using Model m = b.Build();
/// </code>
/// Nodes are appended in call order, so a graph built from values in hand is in topological order. Every name comes
/// from one model-wide scope, so a subgraph built with <see cref="Subgraph"/> (whose nodes may read this builder's
/// values directly) never clashes with the graph around it. <see cref="Build"/> runs the <see cref="Verifier"/>.
/// </summary>
public sealed class GraphBuilder
{
    private readonly GraphBuilder? _root;
    private readonly List<OpsetImport> _opsets = [];
    private bool _built;
    private long _irVersion;

    /// <param name="opset">Version of the default ONNX domain.</param>
    /// <param name="irVersion">The model's IR version (10 goes with opsets up to 22).</param>
    /// <param name="name">The main graph's name (ONNX checkers want one).</param>
    public GraphBuilder(long opset = 17, long irVersion = 10, string name = "main")
    {
        Graph = new Graph { Name = name };
        _irVersion = irVersion;
        _opsets.Add(new OpsetImport("", opset));
    }

    private GraphBuilder(GraphBuilder root, string name)
    {
        _root = root;
        Graph = new Graph { Name = name };
    }

    /// <summary>The graph being built (a subgraph builder's graph goes into a graph attribute of its owner node).</summary>
    public Graph Graph { get; }

    /// <summary>The model's IR version (shared by a builder and its subgraph builders).</summary>
    public long IrVersion
    {
        get => Root._irVersion;
        set => Root._irVersion = value;
    }

    private GraphBuilder Root => _root ?? this;

    /// <summary>Imports <paramref name="domain"/> at <paramref name="version"/> (a domain used without an import gets version 1).</summary>
    public GraphBuilder Opset(string domain, long version)
    {
        var opsets = Root._opsets;
        int i = opsets.FindIndex(o => o.Domain == domain);
        if (i >= 0) opsets[i] = new OpsetImport(domain, version);
        else opsets.Add(new OpsetImport(domain, version));
        return this;
    }

    /// <summary>A tensor input; <paramref name="shape"/> mixes sizes and symbolic names (<c>"batch", 4</c>); none is a scalar.</summary>
    public Value Input(string name, DataType elementType, params Dim[] shape) =>
        Input(name, new TensorType(elementType, new Shape(shape)));

    /// <summary>An input of any type (null: unknown).</summary>
    public Value Input(string name, IrType? type)
    {
        var v = new Value(Claim(name, name), type) { Graph = Graph };
        Graph.Inputs.Add(v);
        return v;
    }

    /// <summary>A constant (initializer); its name is <paramref name="name"/> when free, else made unique.</summary>
    public Value Constant(Tensor tensor, string? name = null)
    {
        var v = new Value(Claim(name, "const")) { Const = tensor };
        Graph.AddConstantFromReader(v);
        return v;
    }

    /// <summary>A node of the default domain with one output, e.g. <c>b.Op("Add", x, y)</c>; a null input is an omitted optional one.</summary>
    public Value Op(string opType, params Value?[] inputs) => AddNode(opType, inputs).Output;

    /// <summary>A node with one output and attributes, e.g. <c>b.Op("Gemm", [a, w, c], attrs: [Attribute.Int("transB", 1)])</c>.</summary>
    public Value Op(string opType, IReadOnlyList<Value?> inputs, IEnumerable<Attribute>? attrs = null, string domain = "", string? name = null) =>
        AddNode(opType, inputs, 1, attrs, domain, name).Output;

    /// <summary>A node with several outputs, e.g. <c>b.Op("Split", [x], outputs: 2, attrs: [Attribute.Int("axis", 1)])</c>.</summary>
    public Value[] Op(string opType, IReadOnlyList<Value?> inputs, int outputs, IEnumerable<Attribute>? attrs = null, string domain = "", string? name = null) =>
        AddNode(opType, inputs, outputs, attrs, domain, name).Outputs.Select(v => v!).ToArray();

    /// <summary>Appends a node and returns it (when a test needs the node itself).</summary>
    public Node AddNode(string opType, IReadOnlyList<Value?> inputs, int outputs = 1, IEnumerable<Attribute>? attrs = null, string domain = "", string? name = null)
    {
        string hint = name ?? opType;
        var outputNames = Enumerable.Range(0, outputs).Select(_ => (string?)Claim(null, hint)).ToArray();
        return Graph.Append(new Node(opType, inputs, outputs, domain, attrs, name, outputNames));
    }

    /// <summary>
    /// Lists <paramref name="value"/> as a graph output, renamed to <paramref name="name"/> when given (the name must be
    /// free; a graph input cannot be renamed: put an Identity in between) and typed with <paramref name="type"/> when given.
    /// </summary>
    public Value Output(Value value, string? name = null, IrType? type = null)
    {
        if (name is not null && name != value.Name)
        {
            if (value.IsGraphInput || value.IsAnyGraphOutput)
                throw new ArgumentException($"Cannot rename {value} to '{name}': it is already a graph input or output. Output an Identity of it instead.");
            if (Root.Graph.Root.Names.Contains(name))
                throw new ArgumentException($"Cannot name an output '{name}': another value already has that name.");
            value.Name = Claim(name, name);
        }
        if (type is not null) value.Type = type;
        Graph.Outputs.Add(value);
        return value;
    }

    /// <summary>Lists <paramref name="value"/> as a tensor output of the given element type and shape.</summary>
    public Value Output(Value value, string name, DataType elementType, params Dim[] shape) =>
        Output(value, name, new TensorType(elementType, new Shape(shape)));

    /// <summary>
    /// A builder for a subgraph (If branch, Loop or Scan body) whose nodes may read this builder's values; put its
    /// <see cref="Graph"/> in the owner node's attribute, e.g. <c>Attribute.FromGraph("then_branch", then.Graph)</c>.
    /// </summary>
    public GraphBuilder Subgraph(string name) => new(Root, name);

    /// <summary>The model: IR version, opset imports (plus version 1 of any domain used but not imported), verified.</summary>
    public Model Build()
    {
        if (_root is not null) throw new InvalidOperationException("Build the model from the root builder; a subgraph goes into an attribute.");
        if (_built) throw new InvalidOperationException("Build was already called; a graph belongs to one model.");
        _built = true;
        var model = new Model(Graph) { IrVersion = IrVersion, ProducerName = "OnnxQuant.GraphBuilder" };
        model.OpsetImports.AddRange(_opsets);
        foreach (var n in Graph.AllNodes())
            if (!n.IsDefaultDomain && model.GetOpset(n.Domain) is null) model.SetOpset(n.Domain, 1);
        Verifier.Verify(model).ThrowIfInvalid("in GraphBuilder.Build");
        return model;
    }

    /// <summary>A name from the model-wide scope: <paramref name="preferred"/> when free, else <c>hint_N</c>.</summary>
    private string Claim(string? preferred, string hint)
    {
        var names = Root.Graph.Root.Names;
        return preferred is null ? names.Claim(null, hint) : names.ClaimPreferred(preferred);
    }
}
