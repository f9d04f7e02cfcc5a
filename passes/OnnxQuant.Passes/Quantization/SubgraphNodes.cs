using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Quantization;

/// <summary>
/// Quantization passes rewrite the main graph only: nodes inside If/Loop/Scan bodies stay float (their activations
/// are not calibrated and ORT's QDQ fusions do not cross subgraph boundaries). This counts and reports them, the same
/// way for every pass.
/// </summary>
public static class SubgraphNodes
{
    /// <summary>Counts (as <c>skipped-subgraph</c>) and logs the default-domain nodes of <paramref name="opTypes"/> in subgraphs.</summary>
    public static void ReportSkipped(Model model, IReadOnlySet<string> opTypes, PassContext context, string pass)
    {
        int inSubgraphs = model.AllGraphs().Where(g => g != model.Graph).SelectMany(g => g.Nodes)
            .Count(n => n.IsDefaultDomain && opTypes.Contains(n.OpType));
        if (inSubgraphs == 0) return;
        context.Count("skipped-subgraph", inSubgraphs);
        context.Log($"{pass}: {inSubgraphs} node(s) inside If/Loop/Scan bodies stay float.");
    }
}
