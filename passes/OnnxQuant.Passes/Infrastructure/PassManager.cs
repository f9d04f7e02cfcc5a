using System.Diagnostics;
using OnnxQuant.Ir;
using OnnxQuant.Ir.Printing;

namespace OnnxQuant.Passes;

/// <summary>
/// Runs a pipeline: passes in order, fixed-point groups until a round changes nothing. Preconditions are checked
/// when the manager is built, so a pipeline that cannot work never starts. A pass that throws becomes a
/// <see cref="PassFailedException"/> naming it and the passes before it. With <see cref="VerifyEach"/> the model is
/// verified before the first pass and after every pass; <see cref="PrintIrAfter"/> dumps the IR after named passes.
/// </summary>
/// <example>
/// <code>
/// var manager = new PassManager([
///     new PassStep(new UpgradeOpsetPass(), new UpgradeOpsetOptions { TargetOpset = 21 }),
///     new FixedPointStep([new PassStep(new FoldConstantsPass()), new PassStep(new EliminateDeadCodePass())]),
/// ]) { VerifyEach = true };
/// PipelineResult result = manager.Run(model, new PassContext(seed: 0));
/// </code>
/// </example>
public sealed class PassManager
{
    private readonly HashSet<string> _printIrAfter = new(StringComparer.Ordinal);

    /// <param name="steps">The pipeline.</param>
    /// <param name="assumed">Properties the input model is known to have (see <see cref="IPass.Requires"/>).</param>
    /// <param name="registry">Where to look for passes that provide a missing property, for error messages.</param>
    /// <exception cref="PipelineException">A pass's precondition is not met by the passes before it.</exception>
    public PassManager(IEnumerable<PipelineStep> steps, IEnumerable<string>? assumed = null, PassRegistry? registry = null)
    {
        Steps = steps.ToList();
        PipelineValidator.Validate(Steps, assumed, registry);
    }

    public IReadOnlyList<PipelineStep> Steps { get; }

    /// <summary>Verify the model before the first pass and after every pass.</summary>
    public bool VerifyEach { get; init; }

    /// <summary>
    /// Throws when the model is invalid; the string says when ("after pass 'x'"). Defaults to structural checks
    /// (uses, definitions before use) until the IR verifier is wired in here.
    /// </summary>
    public Action<Model, string>? Verifier { get; init; }

    /// <summary>Pass names after which to dump the IR (every run of them). Each must be in the pipeline.</summary>
    public IReadOnlyCollection<string> PrintIrAfter
    {
        get => _printIrAfter;
        init
        {
            var inPipeline = Steps.SelectMany(s => s.Passes).Select(p => p.Name).ToHashSet(StringComparer.Ordinal);
            foreach (string name in value)
            {
                if (!inPipeline.Contains(name))
                    throw new PipelineException(
                        $"Cannot print the IR after '{name}': no pass of that name is in this pipeline." +
                        NameSuggestions.DidYouMean(name, inPipeline) +
                        (inPipeline.Count == 0 ? " The pipeline is empty." : $" Its passes: {string.Join(", ", inPipeline.Order(StringComparer.Ordinal))}."));
                _printIrAfter.Add(name);
            }
        }
    }

    /// <summary>Receives IR dumps (a header line, then <see cref="IrPrinter"/> output). Defaults to standard output.</summary>
    public Action<string>? IrSink { get; init; }

    /// <summary>Called before each pass run with the step and its round (0 outside fixed-point groups).</summary>
    public Action<PassStep, int>? PassStarting { get; init; }

    /// <summary>Called after each pass run (and its verification) succeeded.</summary>
    public Action<PassRun>? PassFinished { get; init; }

    public PipelineResult Run(Model model, PassContext context)
    {
        var total = Stopwatch.StartNew();
        var state = new RunState(model, context);
        // A caller running part of a pipeline may have set the whole pipeline's schedule (so that a calibrate step
        // asks the readers after the part); any other schedule is replaced by this pipeline's.
        if (context.GetAnalysis<StatisticsSchedule>() is not { } schedule || !Steps.SelectMany(s => s.Passes).All(schedule.Contains))
            context.SetAnalysis(new StatisticsSchedule(Steps));
        if (VerifyEach)
        {
            try
            {
                Verify(model, "before the first pass");
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                throw new OnnxQuantException($"The input model is invalid (checked by --verify-each before any pass ran): {e.Message}", e);
            }
        }
        RunSteps(Steps, state, round: 0);
        return new PipelineResult(state.Runs, total.Elapsed);
    }

    private bool RunSteps(IEnumerable<PipelineStep> steps, RunState state, int round)
    {
        bool modified = false;
        foreach (var step in steps)
        {
            modified |= step switch
            {
                PassStep p => RunPass(p, state, round),
                FixedPointStep g => RunFixedPoint(g, state),
                _ => throw new NotSupportedException($"Unknown pipeline step {step.GetType().Name}."),
            };
        }
        return modified;
    }

    private bool RunFixedPoint(FixedPointStep group, RunState state)
    {
        bool modified = false;
        for (int round = 1; ; round++)
        {
            int firstRun = state.Runs.Count;
            bool changed = RunSteps(group.Steps, state, round);
            modified |= changed;
            if (!changed) return modified;
            if (round == group.MaxIterations)
            {
                var changers = state.Runs.Skip(firstRun).Where(r => r.Modified).Select(r => r.Pass).Distinct();
                throw new PipelineException(
                    $"The group {group} did not reach a fixed point in {group.MaxIterations} rounds: " +
                    $"{string.Join(", ", changers)} still changed the model in the last round. Passes that undo each " +
                    "other's work never converge: that is a bug in one of them. If the model just needs more rounds, " +
                    $"raise max-iterations on the group.", group.Location);
            }
        }
    }

    private bool RunPass(PassStep step, RunState state, int round)
    {
        var context = state.Context;
        context.Cancellation.ThrowIfCancellationRequested();
        PassStarting?.Invoke(step, round);
        var watch = Stopwatch.StartNew();
        PassResult result;
        context.CurrentPass = step.Name;
        context.CurrentStep = step;
        context.TakePreservedStatistics();
        try
        {
            result = step.Pass.Run(state.Model, step.Options, context);
        }
        catch (OperationCanceledException) when (context.Cancellation.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception e)
        {
            throw new PassFailedException(step.Name, state.History.ToList(), e, step.Location);
        }
        finally
        {
            context.CurrentPass = null;
            context.CurrentStep = null;
        }
        watch.Stop();
        if (result.Modified) InvalidateStatistics(step, context);
        var run = new PassRun(step.Name, round, result.Modified, watch.Elapsed, step.Location);
        if (VerifyEach)
        {
            try
            {
                Verify(state.Model, $"after pass '{step.Name}'");
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                throw new PassFailedException(step.Name, state.History.ToList(), e, step.Location, verificationFailed: true);
            }
        }
        state.Runs.Add(run);
        state.History.Add(run.Label);
        PassFinished?.Invoke(run);
        if (_printIrAfter.Contains(step.Name))
        {
            string header = $"// IR after {run.Label}{(run.Modified ? "" : " (unchanged)")}";
            (IrSink ?? Console.Out.Write)(header + "\n" + IrPrinter.Print(state.Model));
        }
        return result.Modified;
    }

    /// <summary>After <paramref name="step"/> changed the model: the statistics it does not preserve become stale.</summary>
    private static void InvalidateStatistics(PassStep step, PassContext context)
    {
        var kept = context.TakePreservedStatistics();
        if (context.GetAnalysis<Calibration.CalibrationResult>() is not { } statistics) return;
        switch (step.Statistics.Preserves)
        {
            case StatisticsPreservation.All:
                break;
            case StatisticsPreservation.Declared:
                statistics.Invalidate(step.Name, kept);
                break;
            default:
                statistics.Invalidate(step.Name, new HashSet<Value>());
                break;
        }
    }

    private void Verify(Model model, string when)
    {
        if (Verifier is not null) Verifier(model, when);
        else OnnxQuant.Ir.Verification.Verifier.Verify(model).ThrowIfInvalid(when);
    }

    private sealed class RunState(Model model, PassContext context)
    {
        public Model Model { get; } = model;
        public PassContext Context { get; } = context;
        public List<PassRun> Runs { get; } = [];
        public List<string> History { get; } = [];
    }
}
