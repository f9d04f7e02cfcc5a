using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Rewriting;

/// <summary>
/// Edits of single inputs and of the graph's front that quantizers need besides pattern replacement, made with the
/// same guarantees as <see cref="Rewriter"/>'s own: an input is rewired only to a value defined before its node, a
/// node put at the front reads only graph inputs and constants, and a constant left without readers is removed
/// (never changed in place). Names come from the graph's one name scope.
/// </summary>
public static class RewriterNodeEdits
{
    /// <summary>A name not used anywhere in the model, from <paramref name="hint"/>.</summary>
    public static string FreshName(this Rewriter rewriter, string hint) => rewriter.Graph.FreshName(hint);

    /// <summary>
    /// Makes input <paramref name="index"/> of <paramref name="node"/> read <paramref name="value"/> (defined before
    /// the node: <see cref="Rewriter.SetInput"/> checks it), and removes the constant it read before when nothing else
    /// reads it.
    /// </summary>
    public static void ReplaceInput(this Rewriter rewriter, Node node, int index, Value? value)
    {
        var old = node.Input(index);
        rewriter.SetInput(node, index, value);
        if (old is not null) rewriter.RemoveConstantIfUnused(old);
    }

    /// <summary>Inserts <paramref name="node"/> at the front of the rewritten graph; it may read graph inputs, constants
    /// and values of enclosing graphs only.</summary>
    public static Node InsertAtFront(this Rewriter rewriter, Node node)
    {
        if (node.Inputs.FirstOrDefault(v => v?.Producer is { } p && p.Graph == rewriter.Graph) is { } produced)
            throw new InvalidOperationException($"Cannot put {node} at the front of the graph: its input {produced} is computed by {produced.Producer}.");
        return rewriter.Graph.FirstNode is { } first ? rewriter.InsertBefore(first, node) : rewriter.Graph.InsertAfter(null, node);
    }

    /// <summary>Inserts <paramref name="node"/> right after the producer of <paramref name="value"/> when it is computed in
    /// the rewritten graph, else at the front (for graph inputs, constants and values of enclosing graphs).</summary>
    public static Node InsertAfterProducer(this Rewriter rewriter, Value value, Node node) =>
        value.Producer is { } producer && producer.Graph == rewriter.Graph
            ? rewriter.InsertAfter(producer, node)
            : rewriter.InsertAtFront(node);

    /// <summary>
    /// Makes <paramref name="replacement"/> the graph output that <paramref name="old"/> was, under the old name (the
    /// two values swap names), while <paramref name="old"/> keeps its readers: for a quantized output, the DQ takes over
    /// the name users see and the op's own output keeps the Q as its reader. False when <paramref name="old"/> is not an
    /// output of the rewritten graph.
    /// </summary>
    public static bool TakeOverGraphOutput(this Rewriter rewriter, Value old, Value replacement)
    {
        var outputs = rewriter.Graph.Outputs;
        int index = outputs.IndexOf(old);
        if (index < 0) return false;
        if (replacement.Producer is { } producer ? producer.Graph != rewriter.Graph : replacement.Graph != rewriter.Graph)
            throw new InvalidOperationException($"Cannot make {replacement} a graph output: it is not computed in {rewriter.Graph.Name ?? "the graph"}.");
        (old.Name, replacement.Name) = (replacement.Name, old.Name);
        outputs[index] = replacement;
        return true;
    }
}
