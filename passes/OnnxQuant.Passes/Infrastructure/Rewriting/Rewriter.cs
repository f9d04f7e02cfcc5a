using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Rewriting;

/// <summary>
/// All edits a rewrite makes go through here, so that the graph stays consistent after each one: new nodes read only
/// values defined before the place they are inserted, replacements are defined before every use they take over, and
/// nodes left without uses are removed (with the constants only they read). A violation is a bug in the rewrite and
/// throws <see cref="InvalidOperationException"/> at the edit that causes it, not later in another pass.
/// </summary>
public sealed class Rewriter
{
    public Rewriter(Graph graph) => Graph = graph;

    /// <summary>The graph the driver is rewriting (nodes may also be edited in its enclosing graphs).</summary>
    public Graph Graph { get; }

    public int NodesAdded { get; private set; }
    public int NodesRemoved { get; private set; }

    /// <summary>Creates a node and inserts it just before <paramref name="anchor"/> (usually the match root).</summary>
    public Node CreateBefore(Node anchor, string opType, IEnumerable<Value?> inputs,
        IEnumerable<Attribute>? attributes = null, string domain = "", int outputCount = 1) =>
        InsertBefore(anchor, new Node(opType, inputs, outputCount, domain, attributes));

    /// <summary>Inserts a new node just before <paramref name="anchor"/>; every input must be defined before the anchor.</summary>
    public Node InsertBefore(Node anchor, Node node)
    {
        var graph = GraphOf(anchor);
        foreach (var input in node.Inputs)
            if (input is not null && !IsDefinedBefore(input, anchor))
                throw new InvalidOperationException(
                    $"Cannot insert {node} before {anchor}: its input {input} is defined after the anchor (or not in scope).");
        graph.InsertBefore(anchor, node);
        NodesAdded++;
        return node;
    }

    /// <summary>Inserts a new node just after <paramref name="anchor"/>; every input must be defined up to the anchor.</summary>
    public Node InsertAfter(Node anchor, Node node)
    {
        var graph = GraphOf(anchor);
        foreach (var input in node.Inputs)
            if (input is not null && !anchor.Outputs.Contains(input) && !IsDefinedBefore(input, anchor))
                throw new InvalidOperationException(
                    $"Cannot insert {node} after {anchor}: its input {input} is defined after the anchor (or not in scope).");
        graph.InsertAfter(anchor, node);
        NodesAdded++;
        return node;
    }

    /// <summary>Adds a constant to the rewritten graph (a new value: constants are never changed in place).</summary>
    public Value AddConstant(Tensor tensor, string? nameHint = null) => Graph.AddConstant(tensor, nameHint);

    /// <summary>Adds a constant computed from the model's weights; on a streaming model a large one waits on disk (<see cref="Graph.AddWeight"/>).</summary>
    public Value AddWeight(Tensor tensor, string? nameHint = null) => Graph.AddWeight(tensor, nameHint);

    /// <summary>
    /// Makes input <paramref name="index"/> of <paramref name="node"/> read <paramref name="value"/> (appending it when
    /// <paramref name="index"/> is the input count), which must be defined before the node. The value it read before
    /// stays; remove it with <see cref="RemoveConstantIfUnused"/> when it was a constant only this node read.
    /// </summary>
    public void SetInput(Node node, int index, Value? value)
    {
        if (value is not null && !IsDefinedBefore(value, node))
            throw new InvalidOperationException($"Cannot make {node} read {value}: it is defined after the node (or not in scope).");
        if (index == node.Inputs.Count) node.AppendInput(value);
        else node.ReplaceInput(index, value);
    }

    /// <summary>Removes <paramref name="value"/> when it is a constant that nothing reads any more (a constant a rewrite replaced); false otherwise.</summary>
    public bool RemoveConstantIfUnused(Value value) => value.Graph is { } owner && owner.RemoveConstantIfUnused(value);

    /// <summary>
    /// Makes every use of <paramref name="old"/> (graph outputs included) read <paramref name="replacement"/>, which
    /// must be defined before each of those uses. The replacement inherits the old value's type when it has none.
    /// </summary>
    public void ReplaceAllUsesWith(Value old, Value replacement)
    {
        if (ReferenceEquals(old, replacement)) return;
        CheckDefinedBeforeUses(replacement, old);
        replacement.Type ??= old.Type;
        old.ReplaceAllUsesWith(replacement);
    }

    /// <summary>
    /// Replaces the match's root output by <paramref name="replacement"/> and removes the covered nodes that are now
    /// unused.
    /// </summary>
    public void Replace(MatchResult match, Value replacement)
    {
        ReplaceAllUsesWith(match.Root.Output, replacement);
        RemoveDead(match.Nodes);
    }

    /// <summary>
    /// Replaces output i of the match's root by output i of <paramref name="replacement"/> (already inserted) and
    /// removes the covered nodes that are now unused.
    /// </summary>
    public void Replace(MatchResult match, Node replacement)
    {
        var root = match.Root;
        if (replacement.Outputs.Count < root.Outputs.Count)
            throw new InvalidOperationException($"{replacement} has fewer outputs than {root}, which it replaces.");
        for (int i = 0; i < root.Outputs.Count; i++)
        {
            if (root.Outputs[i] is not { } old) continue;
            if (old.Uses.Count == 0 && !old.IsAnyGraphOutput) continue;
            var r = replacement.Outputs[i] ?? throw new InvalidOperationException($"{replacement} has no output {i}, which {root} has and uses.");
            ReplaceAllUsesWith(old, r);
        }
        // A replaced node's record of the float node it stands for moves to its replacement (the report pairs by it).
        NodeOrigin.CarryOver(replacement, root);
        RemoveDead(match.Nodes);
    }

    /// <summary>
    /// Removes the given nodes whose outputs are unused (repeating, so chains go), then Constant nodes and constants
    /// that only they read. Nodes still used stay. Returns the number of nodes removed.
    /// </summary>
    public int RemoveDead(IEnumerable<Node> candidates)
    {
        var pending = candidates.ToList();
        int removed = 0;
        bool progress = true;
        while (progress)
        {
            progress = false;
            for (int i = pending.Count - 1; i >= 0; i--)
            {
                var node = pending[i];
                if (node.Graph is not { } graph) { pending.RemoveAt(i); continue; }
                if (node.Outputs.Any(o => o is not null && (o.Uses.Count > 0 || o.IsAnyGraphOutput))) continue;
                var inputs = node.Inputs.Where(v => v is not null).Distinct().ToList();
                graph.Remove(node);
                pending.RemoveAt(i);
                removed++;
                progress = true;
                foreach (var v in inputs)
                {
                    if (v!.Uses.Count > 0 || v.IsAnyGraphOutput) continue;
                    if (v.Producer is { } p && ConstantNode.IsConstantNode(p) && !pending.Contains(p)) pending.Add(p);
                    else if (v.IsConstant && v.Graph is { } owner && !owner.Inputs.Contains(v)) owner.RemoveConstant(v);
                }
            }
        }
        NodesRemoved += removed;
        return removed;
    }

    private static Graph GraphOf(Node anchor) =>
        anchor.Graph ?? throw new InvalidOperationException($"{anchor} is not in a graph.");

    /// <summary>True when <paramref name="value"/> is visible at <paramref name="anchor"/> and defined before it.</summary>
    private static bool IsDefinedBefore(Value value, Node anchor)
    {
        var graph = GraphOf(anchor);
        if (value.Producer is not { } producer)
            return value.Graph is { } g && IsSelfOrAncestor(g, graph);
        if (producer.Graph is not { } pg || !IsSelfOrAncestor(pg, graph)) return false;
        // Climb to the node of the producer's graph that contains the anchor, then look for the producer before it.
        var at = AncestorIn(anchor, pg);
        if (at is null || ReferenceEquals(at, producer)) return false;
        foreach (var n in pg.Nodes)
        {
            if (ReferenceEquals(n, producer)) return true;
            if (ReferenceEquals(n, at)) return false;
        }
        return false;
    }

    /// <summary>Throws unless the replacement's producer comes before every node that uses <paramref name="old"/>.</summary>
    private static void CheckDefinedBeforeUses(Value replacement, Value old)
    {
        if (replacement.Producer is not { } producer)
        {
            if (replacement.Graph is null)
                throw new InvalidOperationException($"Cannot replace {old} by {replacement}: the replacement is in no graph.");
            return;
        }
        var pg = producer.Graph ?? throw new InvalidOperationException(
            $"Cannot replace {old} by {replacement}: its producer {producer} is not in a graph (insert it first).");
        var users = new HashSet<Node>(ReferenceEqualityComparer.Instance);
        foreach (var use in old.Uses)
        {
            var at = AncestorIn(use.Node, pg) ?? throw new InvalidOperationException(
                $"Cannot replace {old} by {replacement}: {use.Node} is outside the scope of {producer}.");
            users.Add(at);
        }
        if (users.Count == 0) return;
        foreach (var n in pg.Nodes)
        {
            if (ReferenceEquals(n, producer)) return;
            if (users.Contains(n))
                throw new InvalidOperationException(
                    $"Cannot replace {old} by {replacement}: {n} uses it but comes before {producer}. Insert the replacement before the match root.");
        }
    }

    /// <summary>The node of <paramref name="graph"/> that is <paramref name="node"/> or owns the subgraph containing it.</summary>
    private static Node? AncestorIn(Node node, Graph graph)
    {
        for (Node? n = node; n is not null; n = n.Graph?.OwnerNode)
            if (n.Graph == graph) return n;
        return null;
    }

    private static bool IsSelfOrAncestor(Graph candidate, Graph graph)
    {
        for (Graph? g = graph; g is not null; g = g.Parent)
            if (g == candidate) return true;
        return false;
    }
}
