namespace OnnxQuant.Passes;

/// <summary>
/// The passes of the pipeline being run, in order, with their options (an analysis the <see cref="PassManager"/> sets
/// before the first pass). It lets a pass prepare for a later one without the recipe saying so twice: <c>calibrate</c>
/// observes the tensors whose ranges the following <c>insert-qdq</c> will read, whatever op types it lists.
/// </summary>
public sealed class PipelinePlan(IReadOnlyList<PassStep> passes)
{
    public IReadOnlyList<PassStep> Passes { get; } = passes;

    /// <summary>The options of every step of pass type <typeparamref name="TPass"/> (fixed-point groups included).</summary>
    public IEnumerable<TOptions> OptionsOf<TPass, TOptions>() where TPass : IPass =>
        Passes.Where(p => p.Pass is TPass).Select(p => p.Options).OfType<TOptions>();
}
