namespace OnnxQuant.Passes;

/// <summary>
/// Checks declared preconditions before anything runs, walking the steps in order:
/// <list type="bullet">
/// <item>every property a pass <see cref="IPass.Requires"/> must have been <see cref="IPass.Provides">provided</see>
/// by an earlier pass (or be assumed of the input);</item>
/// <item>a pass that reads calibration statistics (<see cref="StatisticsUse.Reads"/>) must follow a pass that collects
/// them, with no pass in between that may change the graph without preserving them
/// (<see cref="StatisticsPreservation.None"/>): it would read stale statistics.</item>
/// </list>
/// A fixed-point group is walked twice, as its second round runs after its last pass: a reader early in a group with
/// an invalidating pass later in it would read stale statistics from the second round on.
/// </summary>
public static class PipelineValidator
{
    /// <param name="steps">The pipeline.</param>
    /// <param name="assumed">Properties the input model is known to have.</param>
    /// <param name="registry">Used to suggest passes that provide a missing property.</param>
    /// <exception cref="PipelineException">The first unmet precondition, located at the pass that has it.</exception>
    public static void Validate(IEnumerable<PipelineStep> steps, IEnumerable<string>? assumed = null, PassRegistry? registry = null)
    {
        var state = new State(new HashSet<string>(assumed ?? [], StringComparer.Ordinal), registry ?? PassRegistry.BuiltIn);
        foreach (var step in steps) Walk(step, state);
    }

    private sealed class State(HashSet<string> established, PassRegistry registry)
    {
        public HashSet<string> Established { get; } = established;
        public PassRegistry Registry { get; } = registry;
        public List<string> Seen { get; } = [];

        /// <summary>The step that last collected statistics (null: none yet).</summary>
        public PassStep? Collected { get; set; }

        /// <summary>The first step since <see cref="Collected"/> that invalidates statistics (null: they are fresh).</summary>
        public PassStep? StaleBy { get; set; }
    }

    private static void Walk(PipelineStep step, State state)
    {
        switch (step)
        {
            case FixedPointStep group:
                for (int round = 0; round < 2; round++)
                    foreach (var inner in group.Steps) Walk(inner, state);
                break;
            case PassStep pass:
                Check(pass, state);
                break;
            default:
                foreach (var p in step.Passes) Check(p, state);
                break;
        }
    }

    private static void Check(PassStep step, State state)
    {
        var missing = step.Pass.Requires.Where(r => !state.Established.Contains(r)).ToList();
        if (missing.Count > 0)
        {
            string property = missing[0];
            var providers = state.Registry.Providers(property).Select(p => $"'{p.Name}'").ToList();
            string fix = providers.Count == 0
                ? "No registered pass provides it."
                : $"Put a pass that provides it ({string.Join(", ", providers)}) before '{step.Name}'.";
            throw new PipelineException(
                $"Pass '{step.Name}' requires '{property}', which no earlier pass provides ({Earlier(state)}). {fix}",
                step.Location);
        }
        var use = step.Statistics;
        if (use.Reads != StatisticKinds.None) CheckStatistics(step, use, state);
        if (use.Collects)
        {
            state.Collected = step;
            state.StaleBy = null;
        }
        else if (use.Preserves == StatisticsPreservation.None && state.Collected is not null) state.StaleBy ??= step;
        foreach (var p in step.Pass.Provides) state.Established.Add(p);
        if (!state.Seen.Contains(step.Name)) state.Seen.Add(step.Name);
    }

    private static void CheckStatistics(PassStep step, StatisticsUse use, State state)
    {
        string reads = $"Pass '{step.Name}' reads calibration statistics ({StatisticsUse.Describe(use.Reads)})";
        if (state.Collected is not { } collector)
        {
            var collectors = state.Registry.Passes.Where(p => p.Statistics.Collects).Select(p => $"'{p.Name}'").ToList();
            string which = collectors.Count == 0 ? "a pass that collects them" : string.Join(" or ", collectors);
            throw new PipelineException($"{reads}, which no earlier pass collects ({Earlier(state)}). Put {which} before '{step.Name}'.", step.Location);
        }
        if (state.StaleBy is { } stale)
            throw new PipelineException(
                $"{reads}, but '{stale.Name}'{At(stale)} may rewrite the graph after '{collector.Name}'{At(collector)} and does not preserve them, " +
                $"so they would be stale. Move '{collector.Name}' after '{stale.Name}', or add a '{collector.Name}' step before '{step.Name}'.",
                step.Location);
    }

    private static string Earlier(State state) =>
        state.Seen.Count == 0 ? "it is the first pass" : $"earlier passes: {string.Join(", ", state.Seen)}";

    private static string At(PassStep step) => step.Location is { } l ? $" (line {l.Line})" : "";
}
