namespace OnnxQuant.Ir;

/// <summary>
/// A value in SSA form: produced by exactly one node output, or a graph input, or a constant (<see cref="Const"/>
/// set, no producer). It knows its producer and every use, so passes walk the graph by object links; names are only
/// for reading and writing files.
/// </summary>
public sealed class Value
{
    private readonly List<Use> _uses = [];

    public Value(string? name = null, IrType? type = null)
    {
        Name = name;
        Type = type;
    }

    /// <summary>The name from the model, or a fresh unique one given when the value joined a graph; null before that.</summary>
    public string? Name { get; set; }

    public IrType? Type { get; set; }

    /// <summary>The node that computes this value, or null for graph inputs and constants.</summary>
    public Node? Producer { get; internal set; }

    /// <summary>Which output of <see cref="Producer"/> this is.</summary>
    public int OutputIndex { get; internal set; }

    /// <summary>The constant tensor, for initializers (no producer). Immutable: replace the value to change a weight.</summary>
    public Tensor? Const { get; internal set; }

    /// <summary>The graph that defines this value (as input, constant or node output); null while detached.</summary>
    public Graph? Graph { get; internal set; }

    public string? DocString { get; set; }
    public List<KeyValuePair<string, string>> Metadata { get; } = [];

    /// <summary>Fields of the ValueInfoProto our schema does not define (a newer ONNX's), written back unchanged: see Serialization.UnknownFields.</summary>
    internal byte[]? UnknownFields { get; set; }

    /// <summary>Consumers in the order they started to use this value (nodes of subgraphs included).</summary>
    public IReadOnlyList<Use> Uses => _uses;

    public bool IsConstant => Const is not null;
    public bool IsGraphInput => Graph is not null && Graph.Inputs.Contains(this);
    public bool IsGraphOutput => Graph is not null && Graph.Outputs.Contains(this);

    /// <summary>
    /// True when some graph lists this value among its outputs: its own graph, an enclosing one, or a subgraph
    /// nested in its graph (a branch may output an outer value directly).
    /// </summary>
    public bool IsAnyGraphOutput
    {
        get
        {
            for (var g = Graph; g is not null; g = g.Parent)
                if (g.Outputs.Contains(this)) return true;
            return Graph is not null && Graph.NestedSubgraphs().Any(s => s.Outputs.Contains(this));
        }
    }

    public DataType? ElementType => Const?.ElementType ?? (Type as TensorType)?.ElementType;

    /// <summary>The shape: exact for constants, else as recorded or inferred (may be null or partly symbolic).</summary>
    public Shape? Shape => Const is not null ? new Shape(Const.Dims.ToArray()) : (Type as TensorType)?.Shape;

    internal void AddUse(Node node, int index) => _uses.Add(new Use(node, index));

    internal void RemoveUse(Node node, int index)
    {
        int i = _uses.IndexOf(new Use(node, index));
        if (i < 0) throw new InvalidOperationException($"Internal error: {node} input {index} is not a use of {this}.");
        _uses.RemoveAt(i);
    }

    /// <summary>
    /// Makes every consumer read <paramref name="replacement"/> instead of this value, including slots of graph
    /// outputs that list this value, in its graph, enclosing graphs and nested subgraphs. When this value is an
    /// output of its own or an enclosing graph, the replacement takes its name, so the model's interface keeps its
    /// names (this value gets the replacement's old name, or a fresh one). Returns the number of node uses changed.
    /// </summary>
    public int ReplaceAllUsesWith(Value replacement)
    {
        if (ReferenceEquals(replacement, this)) return 0;
        var uses = _uses.ToArray();
        foreach (var use in uses) use.Node.ReplaceInput(use.InputIndex, replacement);
        bool renamed = false;
        for (var g = Graph; g is not null; g = g.Parent)
        {
            for (int i = 0; i < g.Outputs.Count; i++)
            {
                if (!ReferenceEquals(g.Outputs[i], this)) continue;
                g.Outputs[i] = replacement;
                if (!renamed && Name is not null)
                {
                    // The output name is part of the model's interface: move it to the replacement.
                    string name = Name;
                    Name = replacement.Name is { } old && old != name ? old : null;
                    replacement.Name = name;
                    renamed = true;
                    // A value left in a graph must keep a name (the writer and the verifier need one).
                    if (Name is null && Graph is { } own) Name = own.FreshName(name);
                }
            }
        }
        // A subgraph may list an outer value as its output directly; those slots are uses too.
        if (Graph is { } home)
        {
            foreach (var sub in home.NestedSubgraphs().ToList())
                for (int i = 0; i < sub.Outputs.Count; i++)
                    if (ReferenceEquals(sub.Outputs[i], this)) sub.Outputs[i] = replacement;
        }
        return uses.Length;
    }

    public override string ToString() => "%" + (Name ?? "<unnamed>");
}
