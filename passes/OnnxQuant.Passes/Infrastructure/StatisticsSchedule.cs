namespace OnnxQuant.Passes;

/// <summary>
/// Which steps of a pipeline read the statistics of which collecting step (an analysis the <see cref="PassManager"/>
/// sets before the first pass): the readers after a collector up to the next collector. A collector asks exactly
/// these for their requests (<see cref="IPass.RequestStatistics"/>), so it observes what they will read without
/// knowing any of them; the <see cref="PipelineValidator"/> has already checked that nothing between a collector and
/// its readers invalidates the statistics.
/// </summary>
public sealed class StatisticsSchedule
{
    private readonly List<PassStep> _passes;
    private readonly Dictionary<PassStep, List<PassStep>> _readers = new(ReferenceEqualityComparer.Instance);
    private readonly List<PassStep> _collectors = [];

    public StatisticsSchedule(IEnumerable<PipelineStep> steps)
    {
        _passes = steps.SelectMany(s => s.Passes).ToList();
        List<PassStep>? current = null;
        foreach (var step in _passes)
        {
            var use = step.Statistics;
            if (use.Collects)
            {
                _collectors.Add(step);
                _readers[step] = current = [];
            }
            else if (use.Reads != StatisticKinds.None) current?.Add(step);
        }
    }

    /// <summary>True when <paramref name="step"/> is one of this pipeline's steps.</summary>
    public bool Contains(PassStep step) => _passes.Contains(step);

    /// <summary>The steps that read what <paramref name="collector"/> collects, in order; empty when none does.</summary>
    public IReadOnlyList<PassStep> ReadersOf(PassStep collector) => _readers.GetValueOrDefault(collector) ?? [];

    /// <summary>The pipeline's steps after <paramref name="step"/> (groups flattened), in order; empty when it is not one of them.</summary>
    public IReadOnlyList<PassStep> After(PassStep step)
    {
        int i = _passes.IndexOf(step);
        return i < 0 ? [] : _passes.Skip(i + 1).ToList();
    }

    /// <summary>The collecting steps of the pipeline, in order.</summary>
    public IReadOnlyList<PassStep> Collectors => _collectors;
}
