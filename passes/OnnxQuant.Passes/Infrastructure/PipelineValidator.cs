namespace OnnxQuant.Passes;

/// <summary>
/// Checks declared preconditions before anything runs: walking the steps in order, every property a pass
/// <see cref="IPass.Requires"/> must have been <see cref="IPass.Provides">provided</see> by an earlier pass (or be
/// assumed of the input). In a fixed-point group the first round runs in order, so the same rule applies inside it.
/// </summary>
public static class PipelineValidator
{
    /// <param name="steps">The pipeline.</param>
    /// <param name="assumed">Properties the input model is known to have.</param>
    /// <param name="registry">Used to suggest passes that provide a missing property.</param>
    /// <exception cref="PipelineException">The first unmet precondition, located at the pass that has it.</exception>
    public static void Validate(IEnumerable<PipelineStep> steps, IEnumerable<string>? assumed = null, PassRegistry? registry = null)
    {
        var established = new HashSet<string>(assumed ?? [], StringComparer.Ordinal);
        var seen = new List<string>();
        foreach (var step in steps.SelectMany(s => s.Passes))
        {
            var missing = step.Pass.Requires.Where(r => !established.Contains(r)).ToList();
            if (missing.Count > 0)
            {
                string property = missing[0];
                var providers = (registry ?? PassRegistry.BuiltIn).Providers(property).Select(p => $"'{p.Name}'").ToList();
                string fix = providers.Count == 0
                    ? "No registered pass provides it."
                    : $"Put a pass that provides it ({string.Join(", ", providers)}) before '{step.Name}'.";
                string earlier = seen.Count == 0 ? "it is the first pass" : $"earlier passes: {string.Join(", ", seen)}";
                throw new PipelineException(
                    $"Pass '{step.Name}' requires '{property}', which no earlier pass provides ({earlier}). {fix}",
                    step.Location);
            }
            foreach (var p in step.Pass.Provides) established.Add(p);
            seen.Add(step.Name);
        }
    }
}
