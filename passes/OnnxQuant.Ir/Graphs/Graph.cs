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

    /// <summary>How many nodes of this graph hold subgraphs, so that searches for nested subgraphs are free without any.</summary>
    private int _subgraphHolders;

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

    /// <summary>The name scope that holds this graph's names (see <see cref="NameScope.Adopt"/>).</summary>
    internal NameScope? NamesAdoptedBy { get; set; }

    /// <summary>
    /// Nodes in order. Safe to use while inserting or removing nodes: nodes inserted after the current one are
    /// visited, removed ones are not, even when the current node and the ones after it are removed together.
    /// </summary>
    public IEnumerable<Node> Nodes
    {
        get
        {
            for (var n = _first; n is not null;)
            {
                var next = n.Next;
                yield return n;
                // Still here, or removed: go on from its successor now, or when it was removed (a removed node keeps
                // it), so nodes inserted after it are visited. Moved to another graph: from its successor before.
                // Nodes removed since are skipped through the successors they kept, rather than ending the walk.
                n = n.Graph == this || n.Graph is null ? n.Next : next;
                while (n is not null && n.Graph != this) n = n.Next;
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

    /// <summary>Adds a graph input. The name is kept if free, else made unique (names must be unique model-wide).</summary>
    public Value AddInput(string name, IrType? type)
    {
        var v = new Value(null, type) { Graph = this };
        v.Name = Root.Names.ClaimPreferred(name);
        Inputs.Add(v);
        return v;
    }

    /// <summary>Adds a constant (an initializer). The name is kept if free, else made unique.</summary>
    public Value AddConstant(Tensor tensor, string? name = null)
    {
        var v = new Value(null) { Const = tensor, Graph = this };
        v.Name = name is null ? Root.Names.Claim(null, "const") : Root.Names.ClaimPreferred(name);
        _constants.Add(v);
        return v;
    }

    /// <summary>The model whose main graph this is (null for a subgraph or a graph not in a model).</summary>
    internal Model? OwnerModel { get; set; }

    /// <summary>
    /// Adds a constant a pass computed from the model's weights (a quantized, scaled or rotated weight). When the
    /// model this graph belongs to streams (its weights are mapped from external data: <see cref="Model.Streams"/>),
    /// a large one goes to the model's scratch file at once (<see cref="Model.KeepOnDisk"/>), so a pass that rewrites
    /// a model larger than memory one layer at a time never holds the rewritten model; otherwise as
    /// <see cref="AddConstant"/>. The bytes are the same either way.
    /// </summary>
    public Value AddWeight(Tensor tensor, string? name = null) => AddConstant(Root.OwnerModel?.KeepOnDisk(tensor) ?? tensor, name);

    /// <summary>Removes an unused constant; refuses one that a node or an output still reads.</summary>
    public void RemoveConstant(Value constant)
    {
        if (constant.Graph != this || !_constants.Contains(constant))
            throw new InvalidOperationException($"{constant} is not a constant of this graph.");
        if (constant.Uses.Count > 0 || constant.IsAnyGraphOutput || Inputs.Contains(constant))
            throw new InvalidOperationException($"Cannot remove constant {constant}: it is still used.");
        _constants.Remove(constant);
        constant.Graph = null;
    }

    /// <summary>
    /// Removes <paramref name="value"/> when it is a constant of this graph that nothing reads any more (rewrites
    /// call it on the constants they replaced); false, and nothing changes, otherwise.
    /// </summary>
    public bool RemoveConstantIfUnused(Value value)
    {
        if (value.Graph != this || !_constants.Contains(value) || value.Uses.Count > 0 || value.IsAnyGraphOutput || Inputs.Contains(value))
            return false;
        RemoveConstant(value);
        return true;
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
        if (node.HoldsSubgraphs)
        {
            _subgraphHolders++;
            foreach (var g in node.Subgraphs)
            {
                g.OwnerNode = node;
                Root.Names.Adopt(g);
            }
        }
        return node;
    }

    /// <summary>
    /// Removes a node. Refuses when any output is still used or is a graph output (of any graph, subgraphs
    /// included), unless <paramref name="force"/> (for callers that rewire those uses right after). The node, and
    /// the nodes of the subgraphs it owns, stop using their inputs, so that values outside keep exact use lists.
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
        foreach (var g in node.Subgraphs)
            if (g.OwnerNode == node)
                foreach (var inner in g.AllNodes()) inner.DetachInputs();
    }

    /// <summary>Moves a node of this graph to just before <paramref name="anchor"/>, another node of this graph (keeps its links).</summary>
    public void MoveBefore(Node anchor, Node node)
    {
        if (anchor.Graph != this) throw new InvalidOperationException($"{anchor} is not in this graph.");
        if (node.Graph != this) throw new InvalidOperationException($"{node} is not in this graph.");
        if (ReferenceEquals(anchor, node)) return;
        UnlinkNeighbours(node);
        node.Prev = anchor.Prev;
        node.Next = anchor;
        if (anchor.Prev is null) _first = node; else anchor.Prev.Next = node;
        anchor.Prev = node;
    }

    private void Unlink(Node node)
    {
        UnlinkNeighbours(node);
        // node.Next stays as it was: an iteration that stands on this node goes on from there (see Nodes).
        node.Prev = null;
        node.Graph = null;
        NodeCount--;
        if (node.HoldsSubgraphs) _subgraphHolders--;
    }

    private void UnlinkNeighbours(Node node)
    {
        if (node.Prev is null) _first = node.Next; else node.Prev.Next = node.Next;
        if (node.Next is null) _last = node.Prev; else node.Next.Prev = node.Prev;
    }

    /// <summary>Keeps the count of nodes holding subgraphs right when a node of this graph gains or loses one.</summary>
    internal void SubgraphHoldingChanged(bool before, bool after)
    {
        if (before != after) _subgraphHolders += after ? 1 : -1;
    }

    /// <summary>Every subgraph nested in this graph, at any depth.</summary>
    internal IEnumerable<Graph> NestedSubgraphs()
    {
        if (_subgraphHolders == 0) yield break;
        for (var n = _first; n is not null; n = n.Next)
        {
            if (!n.HoldsSubgraphs) continue;
            foreach (var sub in n.Subgraphs)
            {
                yield return sub;
                foreach (var inner in sub.NestedSubgraphs()) yield return inner;
            }
        }
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
