using OnnxQuant.Ir;
using OnnxQuant.Passes.Rewriting;

namespace OnnxQuant.Passes.Fusion;

/// <summary>
/// How a fusion pass runs its patterns: <see cref="RewriteDriver.Apply"/> (every graph, near misses with their reasons
/// in <c>--stats</c>, matches the opset cannot express counted as <c>skipped-opset</c>), plus the pass's own counter
/// of rewrites and one log line naming the opset upgrade that would let the skipped matches fire.
/// </summary>
internal static class FusionRun
{
    /// <param name="what">What a skipped match is, in the plural form of the log line ("decomposed LayerNorm(s)").</param>
    public static PassResult Apply(IPass pass, Model model, PassContext context, RewritePattern[] patterns, string what, string counter = "fused")
    {
        var result = RewriteDriver.Apply(model, patterns, context);
        if (result.Applications > 0) context.Count(counter, result.Applications);
        if (result.Skipped.Count > 0)
            context.Log($"{pass.Name}: {result.Skipped.Count} {what} left as they are: {result.Skipped[0].Reason}. Upgrade the opset first.");
        return result.ToPassResult();
    }
}
