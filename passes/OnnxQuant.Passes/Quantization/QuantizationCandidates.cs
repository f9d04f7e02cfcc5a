using System.Text.RegularExpressions;
using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Quantization;

/// <summary>
/// The nodes a quantization pass considers, chosen the same way by every pass: default-domain nodes of the selected
/// op types in the main graph (those in If/Loop/Scan bodies are reported and stay float), minus those whose name
/// matches an <c>exclude-nodes</c> pattern (counted as <c>excluded</c>). A snapshot: the pass may edit the graph
/// while it walks them.
/// </summary>
public static class QuantizationCandidates
{
    /// <param name="alsoSelect">Nodes of other op types the pass also takes (quantize-weights: embedding Gathers).</param>
    public static IEnumerable<Node> Of(Model model, IReadOnlySet<string> opTypes, IReadOnlyList<Regex> excludedNames, PassContext context, string pass,
        Func<Node, bool>? alsoSelect = null)
    {
        SubgraphNodes.ReportSkipped(model, opTypes, context, pass);
        foreach (var node in model.Graph.Nodes.ToList())
        {
            context.Cancellation.ThrowIfCancellationRequested();
            if (!IsSelected(node, opTypes) && alsoSelect?.Invoke(node) != true) continue;
            if (NameGlob.AnyMatches(excludedNames, node))
            {
                context.Count("excluded");
                continue;
            }
            yield return node;
        }
    }

    /// <summary>The candidates of <paramref name="graph"/> as <see cref="Of"/> chooses them, without reporting (analyses
    /// that predict what a pass will quantize).</summary>
    public static List<Node> In(Graph graph, IReadOnlySet<string> opTypes, IReadOnlyList<Regex> excludedNames) =>
        graph.Nodes.Where(n => IsSelected(n, opTypes) && !NameGlob.AnyMatches(excludedNames, n)).ToList();

    private static bool IsSelected(Node node, IReadOnlySet<string> opTypes) => node.IsDefaultDomain && opTypes.Contains(node.OpType);
}
