using OnnxQuant.Ir;
using static OnnxQuant.Passes.Fusion.FusionPatterns;

namespace OnnxQuant.Passes.Fusion;

/// <summary>
/// The loop every local fusion pass shares, so that a pass is only its pattern: visit each graph (subgraphs
/// included) and, in a snapshot of its nodes, each default-domain node of a root op type still in the graph (an
/// earlier rewrite may have removed it); try to match there; count and log a rejection with its reason; count a
/// match the model's opset cannot express as <c>skipped-opset</c> and leave it; else rewrite it. The passes keep
/// their own counters' and log lines' wording, which tests and users read.
/// </summary>
internal static class FusionDriver
{
    /// <summary>Null on a match; "" when <paramref name="root"/> does not start the pattern at all (no log line); else why it does not fuse.</summary>
    public delegate string? Matcher<TMatch>(Node root, long opset, out TMatch? match) where TMatch : class;

    /// <summary>
    /// Runs <paramref name="tryMatch"/> at every node of a type in <paramref name="rootOps"/> and
    /// <paramref name="rewrite"/> on each match. With <paramref name="requires"/>, a match in a model whose default
    /// opset is below <c>Opset</c> is left as it is, and the pass logs one line at the end, <c>LeftAsTheyAre(count,
    /// modelOpset)</c>, so that a user learns the opset upgrade that would let it fire. <paramref name="counter"/>
    /// counts rewrites; <paramref name="notRewriting"/> starts a rejection's log line ("not fusing at node: why.").
    /// </summary>
    public static PassResult Run<TMatch>(
        IPass pass, Model model, PassContext context, string[] rootOps, Matcher<TMatch> tryMatch, Action<TMatch, long> rewrite,
        (long Opset, Func<int, long, string> LeftAsTheyAre)? requires = null, string counter = "fused", string notRewriting = "not fusing at")
        where TMatch : class
    {
        long opset = model.GetOpset("") ?? 1;
        int rewritten = 0, skipped = 0;
        foreach (var graph in GraphsOf(model))
        {
            foreach (var node in graph.Nodes.ToList())
            {
                context.Cancellation.ThrowIfCancellationRequested();
                if (node.Graph != graph || !node.IsDefaultDomain || !rootOps.Contains(node.OpType)) continue;
                string? failure = tryMatch(node, opset, out var match);
                if (failure is not null)
                {
                    if (failure.Length > 0)
                    {
                        context.Count("rejected");
                        context.Log($"{pass.Name}: {notRewriting} {node}: {failure}.");
                    }
                    continue;
                }
                if (opset < requires?.Opset)
                {
                    skipped++;
                    context.Count("skipped-opset");
                    continue;
                }
                rewrite(match!, opset);
                rewritten++;
                context.Count(counter);
            }
        }
        if (skipped > 0)
            context.Log($"{pass.Name}: {requires!.Value.LeftAsTheyAre(skipped, opset)}");
        return PassResult.From(rewritten > 0);
    }
}
