namespace OnnxQuant.Passes.Rewriting;

/// <summary>What <see cref="RewriteDriver"/> did: applications per pattern, and the near misses left in the final graph.</summary>
public sealed class RewriteResult
{
    public RewriteResult(IReadOnlyDictionary<string, int> applied, IReadOnlyList<NearMiss> nearMisses, int sweeps)
    {
        Applied = applied;
        NearMisses = nearMisses;
        Sweeps = sweeps;
    }

    /// <summary>Pattern name → times it was applied.</summary>
    public IReadOnlyDictionary<string, int> Applied { get; }

    /// <summary>Candidates that did not match in the final sweep (after which nothing changed).</summary>
    public IReadOnlyList<NearMiss> NearMisses { get; }

    /// <summary>Matches of the final sweep left as they are because the opset cannot express the rewrite (the reason says which).</summary>
    public IReadOnlyList<NearMiss> Skipped { get; init; } = [];

    /// <summary>Passes over all graphs, counting the last one that found nothing to do.</summary>
    public int Sweeps { get; }

    public int Applications => Applied.Values.Sum();
    public bool Modified => Applications > 0;

    /// <summary>The pass result to return from a pass that only applies patterns.</summary>
    public PassResult ToPassResult() => PassResult.From(Modified);
}
