namespace OnnxQuant.Passes;

/// <summary>What a pipeline run did: every pass run in order, and whether the model changed.</summary>
public sealed class PipelineResult
{
    public PipelineResult(IReadOnlyList<PassRun> runs, TimeSpan elapsed)
    {
        Runs = runs;
        Elapsed = elapsed;
    }

    public IReadOnlyList<PassRun> Runs { get; }
    public TimeSpan Elapsed { get; }
    public bool Modified => Runs.Any(r => r.Modified);

    /// <summary>Time and change count per pass name, in order of first run.</summary>
    public IReadOnlyList<PassTiming> TimeByPass =>
        Runs.GroupBy(r => r.Pass)
            .Select(g => new PassTiming(g.Key, g.Count(), g.Count(r => r.Modified), TimeSpan.FromTicks(g.Sum(r => r.Elapsed.Ticks))))
            .ToList();
}
