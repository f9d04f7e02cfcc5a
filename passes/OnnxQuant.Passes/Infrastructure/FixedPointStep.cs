namespace OnnxQuant.Passes;

/// <summary>
/// Steps repeated in order until a whole round changes nothing (no pass reports a change). Passes that enable each
/// other (folding exposes dead code, removing it exposes more folding) belong in one group.
/// </summary>
public sealed class FixedPointStep : PipelineStep
{
    /// <summary>The recipe key of a group: <c>- fixed-point: [pass, pass]</c>.</summary>
    public const string RecipeKey = "fixed-point";

    public const int DefaultMaxIterations = 20;

    public FixedPointStep(IEnumerable<PipelineStep> steps, int maxIterations = DefaultMaxIterations, SourceLocation? location = null)
        : base(location)
    {
        Steps = steps.ToList();
        if (maxIterations < 1) throw new ArgumentOutOfRangeException(nameof(maxIterations), "A fixed-point group needs at least one iteration.");
        MaxIterations = maxIterations;
    }

    public IReadOnlyList<PipelineStep> Steps { get; }

    /// <summary>Rounds allowed, counting the last one that changes nothing; more is an error.</summary>
    public int MaxIterations { get; }

    public override IEnumerable<PassStep> Passes => Steps.SelectMany(s => s.Passes);

    public override string ToString() => $"{RecipeKey} [{string.Join(", ", Steps)}]";
}
