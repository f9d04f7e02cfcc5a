namespace OnnxQuant.Ir;

/// <summary>
/// An operator application. Inputs change only through <see cref="ReplaceInput"/> and friends, which keep the use
/// lists of the values consistent; outputs are created with the node and fixed for its lifetime (each output has
/// exactly one producer). A null input or output is an omitted optional one (ONNX's empty name).
/// </summary>
public sealed class Node
{
    private readonly List<Value?> _inputs = [];
    private readonly Value?[] _outputs;
    private readonly List<Attribute> _attributes = [];

    /// <summary>
    /// Creates a node that reads <paramref name="inputs"/> and has <paramref name="outputCount"/> new output values
    /// (named later by the graph it joins, unless <paramref name="outputNames"/> gives names).
    /// </summary>
    public Node(string opType, IEnumerable<Value?> inputs, int outputCount = 1, string domain = "",
        IEnumerable<Attribute>? attributes = null, string? name = null, IReadOnlyList<string?>? outputNames = null)
    {
        OpType = opType;
        Domain = domain;
        Name = name;
        foreach (var input in inputs) AppendInput(input);
        _outputs = new Value?[outputCount];
        for (int i = 0; i < outputCount; i++)
        {
            string? outName = outputNames is not null && i < outputNames.Count ? outputNames[i] : null;
            // An output named "" in a file is an absent optional output.
            if (outputNames is not null && outName is "") continue;
            _outputs[i] = new Value(outName) { Producer = this, OutputIndex = i };
        }
        if (attributes is not null) foreach (var a in attributes) SetAttribute(a);
    }

    public string OpType { get; set; }

    /// <summary>Operator domain; "" (or "ai.onnx") is the default ONNX domain.</summary>
    public string Domain { get; set; }

    public string? Name { get; set; }
    public string? Overload { get; set; }
    public string? DocString { get; set; }
    public List<KeyValuePair<string, string>> Metadata { get; } = [];

    /// <summary>ONNX <c>NodeDeviceConfigurationProto</c> entries, carried through unchanged.</summary>
    public List<Onnx.Proto.NodeDeviceConfigurationProto> DeviceConfigurations { get; } = [];

    /// <summary>Fields of the NodeProto our schema does not define (a newer ONNX's), written back unchanged: see Serialization.UnknownFields.</summary>
    internal byte[]? UnknownFields { get; set; }

    public IReadOnlyList<Value?> Inputs => _inputs;
    public IReadOnlyList<Value?> Outputs => _outputs;
    public IReadOnlyList<Attribute> Attributes => _attributes;

    /// <summary>The graph the node belongs to (at most one); null while detached.</summary>
    public Graph? Graph { get; internal set; }

    internal Node? Prev { get; set; }
    internal Node? Next { get; set; }

    public bool IsDefaultDomain => Domain is "" or "ai.onnx";

    /// <summary>The single output; throws if the node has several.</summary>
    public Value Output => _outputs.Length == 1 && _outputs[0] is { } v
        ? v : throw new InvalidOperationException($"{this} does not have exactly one output.");

    public Value? Input(int index) => index < _inputs.Count ? _inputs[index] : null;

    public void ReplaceInput(int index, Value? value)
    {
        var old = _inputs[index];
        if (ReferenceEquals(old, value)) return;
        old?.RemoveUse(this, index);
        _inputs[index] = value;
        value?.AddUse(this, index);
    }

    public void AppendInput(Value? value)
    {
        _inputs.Add(value);
        value?.AddUse(this, _inputs.Count - 1);
    }

    /// <summary>Drops trailing inputs from <paramref name="count"/> on (e.g. omitted optional inputs).</summary>
    public void TruncateInputs(int count)
    {
        for (int i = _inputs.Count - 1; i >= count; i--)
        {
            _inputs[i]?.RemoveUse(this, i);
            _inputs.RemoveAt(i);
        }
    }

    /// <summary>Stops using every input (done when a node is removed, so its inputs' use lists stay exact).</summary>
    internal void DetachInputs() => TruncateInputs(0);

    public Attribute? GetAttribute(string name) => _attributes.Find(a => a.Name == name);

    public long GetInt(string name, long fallback) => GetAttribute(name)?.AsInt() ?? fallback;
    public float GetFloat(string name, float fallback) => GetAttribute(name)?.AsFloat() ?? fallback;
    public string GetString(string name, string fallback) => GetAttribute(name)?.AsString() ?? fallback;
    public IReadOnlyList<long>? GetInts(string name) => GetAttribute(name)?.AsInts();

    /// <summary>
    /// Adds or replaces (in place, keeping order) the attribute with this name. A graph it holds becomes a subgraph
    /// of this node (its <see cref="Ir.Graph.OwnerNode"/>); a graph it replaces is released.
    /// </summary>
    public void SetAttribute(Attribute attribute)
    {
        bool held = HoldsSubgraphs;
        int i = _attributes.FindIndex(a => a.Name == attribute.Name);
        if (i >= 0)
        {
            Release(_attributes[i], keep: attribute);
            _attributes[i] = attribute;
        }
        else _attributes.Add(attribute);
        foreach (var g in attribute.Graphs)
        {
            g.OwnerNode = this;
            Graph?.Root.Names.Adopt(g);
        }
        Graph?.SubgraphHoldingChanged(held, HoldsSubgraphs);
    }

    /// <summary>
    /// Removes the attribute with this name. A subgraph it held is released (no owner) but keeps its nodes, which
    /// still use the outer values they read: attach it to another node, or empty it, before verifying.
    /// </summary>
    public bool RemoveAttribute(string name)
    {
        bool held = HoldsSubgraphs;
        int i = _attributes.FindIndex(a => a.Name == name);
        if (i < 0) return false;
        Release(_attributes[i], keep: null);
        _attributes.RemoveAt(i);
        Graph?.SubgraphHoldingChanged(held, HoldsSubgraphs);
        return true;
    }

    private void Release(Attribute old, Attribute? keep)
    {
        foreach (var g in old.Graphs)
            if (g.OwnerNode == this && (keep is null || !keep.Graphs.Contains(g))) g.OwnerNode = null;
    }

    /// <summary>Graphs held by attributes (If branches, Loop/Scan bodies).</summary>
    public IEnumerable<Graph> Subgraphs => _attributes.SelectMany(a => a.Graphs);

    internal bool HoldsSubgraphs => _attributes.Exists(static a => a.Value is Ir.Graph or Ir.Graph[]);

    public override string ToString() => $"{(IsDefaultDomain ? "" : Domain + ".")}{OpType}" + (Name is null ? "" : $" '{Name}'");
}
