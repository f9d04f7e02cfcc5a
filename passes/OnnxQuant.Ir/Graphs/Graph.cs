namespace OnnxQuant.Ir;

/// <summary>
/// An ordered list of nodes with its inputs, outputs and constants. Nodes form an intrusive linked list, so a pass
/// may insert and remove nodes while it iterates <see cref="Nodes"/>. A node belongs to at most one graph; removing a
/// node whose outputs are still used is refused. Subgraphs (If/Loop/Scan bodies) are graphs owned by a node
/// attribute and may read values of enclosing graphs directly.
/// </summary>
public sealed class Graph
{
    private readonly List<Value> _constants = [];
    private Node? _first;
    private Node? _last;
    private NameScope? _names;

    public string? Name { get; set; }
    public string? DocString { get; set; }

    /// <summary>Fields of the GraphProto our schema does not define (a newer ONNX's), written back unchanged: see Serialization.UnknownFields.</summary>
    internal byte[]? UnknownFields { get; set; }

    /// <summary>Graph inputs in order. A constant listed here is an initializer that callers may override.</summary>
    public List<Value> Inputs { get; } = [];

    /// <summary>Graph outputs in order: any value visible in this graph.</summary>
    public List<Value> Outputs { get; } = [];

    /// <summary>Constant values (initializers and former Constant nodes), in file order.</summary>
    public IReadOnlyList<Value> Constants => _constants;

    /// <summary>ONNX <c>quantization_annotation</c> entries, carried through unchanged.</summary>
    public List<Onnx.Proto.TensorAnnotation> QuantizationAnnotations { get; } = [];

    public List<KeyValuePair<string, string>> Metadata { get; } = [];

    /// <summary>The node whose attribute holds this graph, for subgraphs.</summary>
    public Node? OwnerNode { get; internal set; }

    /// <summary>The enclosing graph, for subgraphs.</summary>
    public Graph? Parent => OwnerNode?.Graph;

    public Graph Root => Parent?.Root ?? this;

    public int NodeCount { get; private set; }

    /// <summary>Nodes in order. Safe to use while inserting or removing nodes: the next node is read before yielding.</summary>
    public IEnumerable<Node> Nodes
    {
        get
        {
            for (var n = _first; n is not null;)
            {
                var next = n.Next;
                yield return n;
                // If n was removed during the yield, next is still right; if something was inserted after n, visit it.
                n = n.Graph == this ? n.Next : next;
            }
        }
    }

    public Node? FirstNode => _first;
    public Node? LastNode => _last;

    /// <summary>Every node of this graph and, depth first, of the subgraphs inside it.</summary>
    public IEnumerable<Node> AllNodes()
    {
        foreach (var n in Nodes)
        {
            yield return n;
            foreach (var g in n.Subgraphs)
                foreach (var inner in g.AllNodes()) yield return inner;
        }
    }

    public Value AddInput(string name, IrType? type)
    {
        var v = new Value(name, type);
        AdoptValue(v, name);
        Inputs.Add(v);
        return v;
    }

    /// <summary>Adds a constant (an initializer). The name is kept if free, else made unique.</summary>
    public Value AddConstant(Tensor tensor, string? name = null)
    {
        var v = new Value(null) { Const = tensor };
        AdoptValue(v, name ?? "const");
        _constants.Add(v);
        return v;
    }

    /// <summary>Removes an unused constant; refuses one that a node or an output still reads.</summary>
    public void RemoveConstant(Value constant)
    {
        if (constant.Graph != this || !_constants.Contains(constant))
            throw new InvalidOperationException($"{constant} is not a constant of this graph.");
        if (constant.Uses.Count > 0 || constant.IsGraphOutput || Inputs.Contains(constant))
            throw new InvalidOperationException($"Cannot remove constant {constant}: it is still used.");
        _constants.Remove(constant);
        constant.Graph = null;
    }

    public Node Append(Node node) => InsertAfter(_last, node);

    public Node InsertBefore(Node anchor, Node node)
    {
        if (anchor.Graph != this) throw new InvalidOperationException($"{anchor} is not in this graph.");
        return InsertAfter(anchor.Prev, node);
    }

    /// <summary>Inserts <paramref name="node"/> after <paramref name="anchor"/> (at the front when anchor is null).</summary>
    public Node InsertAfter(Node? anchor, Node node)
    {
        if (node.Graph is not null) throw new InvalidOperationException($"{node} already belongs to a graph.");
        if (anchor is not null && anchor.Graph != this) throw new InvalidOperationException($"{anchor} is not in this graph.");
        node.Graph = this;
        node.Prev = anchor;
        node.Next = anchor is null ? _first : anchor.Next;
        if (node.Prev is null) _first = node; else node.Prev.Next = node;
        if (node.Next is null) _last = node; else node.Next.Prev = node;
        NodeCount++;
        foreach (var output in node.Outputs)
            if (output is not null) AdoptValue(output, output.Name ?? (node.Name ?? node.OpType));
        foreach (var g in node.Subgraphs) g.OwnerNode = node;
        return node;
    }

    /// <summary>
    /// Removes a node. Refuses when any output is still used or is a graph output, unless <paramref name="force"/>
    /// (for callers that rewire those uses right after). The node stops using its inputs.
    /// </summary>
    public void Remove(Node node, bool force = false)
    {
        if (node.Graph != this) throw new InvalidOperationException($"{node} is not in this graph.");
        if (!force)
        {
            foreach (var o in node.Outputs)
            {
                if (o is null) continue;
                if (o.Uses.Count > 0)
                    throw new InvalidOperationException($"Cannot remove {node}: its output {o} is still used by {o.Uses[0].Node}.");
                if (o.IsAnyGraphOutput)
                    throw new InvalidOperationException($"Cannot remove {node}: its output {o} is a graph output.");
            }
        }
        Unlink(node);
        node.DetachInputs();
    }

    /// <summary>Moves a node of this graph to just before <paramref name="anchor"/> (keeps its links).</summary>
    public void MoveBefore(Node anchor, Node node)
    {
        if (ReferenceEquals(anchor, node)) return;
        Unlink(node);
        node.Graph = this;
        node.Prev = anchor.Prev;
        node.Next = anchor;
        if (anchor.Prev is null) _first = node; else anchor.Prev.Next = node;
        anchor.Prev = node;
        NodeCount++;
    }

    private void Unlink(Node node)
    {
        if (node.Prev is null) _first = node.Next; else node.Prev.Next = node.Next;
        if (node.Next is null) _last = node.Prev; else node.Next.Prev = node.Prev;
        node.Prev = node.Next = null;
        node.Graph = null;
        NodeCount--;
    }

    /// <summary>
    /// Reorders nodes so that every value is defined before it is read (values read inside subgraphs count as
    /// read by the node owning the subgraph). Stable: nodes already in order keep their relative order.
    /// Throws on a cycle.
    /// </summary>
    public void SortTopologically()
    {
        var order = Nodes.ToList();
        var position = new Dictionary<Node, int>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < order.Count; i++) position[order[i]] = i;
        var pending = new int[order.Count];
        var dependents = new List<int>[order.Count];
        for (int i = 0; i < order.Count; i++) dependents[i] = [];
        for (int i = 0; i < order.Count; i++)
        {
            foreach (var producer in ProducersRead(order[i]).Distinct())
            {
                if (!position.TryGetValue(producer, out int p) || p == i) continue;
                pending[i]++;
                dependents[p].Add(i);
            }
        }
        var ready = new PriorityQueue<int, int>();
        for (int i = 0; i < order.Count; i++) if (pending[i] == 0) ready.Enqueue(i, i);
        var sorted = new List<Node>(order.Count);
        while (ready.TryDequeue(out int i, out _))
        {
            sorted.Add(order[i]);
            foreach (int d in dependents[i]) if (--pending[d] == 0) ready.Enqueue(d, d);
        }
        if (sorted.Count != order.Count)
        {
            var stuck = order.Where((_, i) => pending[i] > 0).Take(3);
            throw new InvalidOperationException($"The graph has a cycle through {string.Join(", ", stuck)}.");
        }
        _first = _last = null;
        Node? prev = null;
        foreach (var n in sorted)
        {
            n.Prev = prev;
            n.Next = null;
            if (prev is null) _first = n; else prev.Next = n;
            prev = n;
        }
        _last = prev;
    }

    /// <summary>Producers (in this graph) of the values a node reads, directly or from inside its subgraphs.</summary>
    internal IEnumerable<Node> ProducersRead(Node node)
    {
        foreach (var v in node.Inputs)
            if (v?.Producer is { } p && p.Graph == this) yield return p;
        foreach (var g in node.Subgraphs)
            foreach (var inner in g.AllNodes())
                foreach (var v in inner.Inputs)
                    if (v?.Producer is { } p && p.Graph == this) yield return p;
        foreach (var g in node.Subgraphs)
            foreach (var v in g.Outputs)
                if (v.Producer is { } p && p.Graph == this) yield return p;
    }

    /// <summary>Gives a value to this graph and a unique name (its own if free, else hint_N).</summary>
    internal void AdoptValue(Value value, string hint)
    {
        value.Graph = this;
        value.Name = Root.Names.Claim(value.Name, hint);
    }

    /// <summary>The model-wide name scope: ONNX requires names unique across a graph and its subgraphs.</summary>
    internal NameScope Names => Parent is { } p ? p.Root.Names : (_names ??= NameScope.Collect(this));

    /// <summary>A name not used anywhere in the graph or its subgraphs.</summary>
    public string FreshName(string hint) => Root.Names.Claim(null, hint);

    internal void AddConstantFromReader(Value value)
    {
        value.Graph = this;
        _constants.Add(value);
    }

    /// <summary>Forgets the cached names (after bulk renames or when values were given names directly).</summary>
    public void InvalidateNames() => Root._names = null;
}
