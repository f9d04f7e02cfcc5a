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
    public static IEnumerable<Node> Of(Model model, IReadOnlySet<string> opTypes, IReadOnlyList<Regex> excludedNames, PassContext context, string pass)
    {
        SubgraphNodes.ReportSkipped(model, opTypes, context, pass);
        foreach (var node in model.Graph.Nodes.ToList())
        {
            context.Cancellation.ThrowIfCancellationRequested();
            if (!node.IsDefaultDomain || !opTypes.Contains(node.OpType)) continue;
            if (NameGlob.AnyMatches(excludedNames, node))
            {
                context.Count("excluded");
                continue;
            }
            yield return node;
        }
    }
}
