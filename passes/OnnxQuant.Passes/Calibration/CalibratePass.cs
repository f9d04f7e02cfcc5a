using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Runtime.DataSources;
using OnnxQuant.Passes.Calibration.Ranges;
using OnnxQuant.Passes.Calibration.Ranges.Consumer;
using OnnxQuant.Runtime.Calibration.Statistics;
using OnnxQuant.Passes.Quantization;
using OnnxQuant.Passes.Quantization.AutoPrecision;
using OnnxQuant.Runtime.Calibration;

namespace OnnxQuant.Passes.Calibration;

/// <summary>
/// Runs the model over calibration data once and records what the readers after it request
/// (<see cref="IPass.RequestStatistics"/>: ranges, histograms, per-channel and per-token statistics, XᵀX), by IR
/// value, as a <see cref="CalibrationResult"/> in the context's analyses; with <c>tensors: all</c> also the range of
/// every floating-point activation. Its readers are the steps of the pipeline after it that read statistics, up to the
/// next calibrate step (<see cref="StatisticsSchedule"/>); with none (a recipe that ends here, or a pass run alone),
/// it calibrates what a default <c>insert-qdq</c> would read, so that the saved statistics serve a later run. The
/// model is not changed. Data and run settings come from <see cref="CalibrationSettings"/> in the context (the
/// recipe's <c>calibration:</c> section and the command line); statistics saved earlier (<c>--load-calib</c>) are
/// reused instead of running the model, provided they cover every request. A recipe may calibrate more than once (e.g.
/// after a pass that rescales activations); <c>--save-calib</c>/<c>--load-calib</c> then refuse, as one file holds one
/// calibration.
/// </summary>
public sealed class CalibratePass : Pass<CalibrateOptions>
{
    public override string Name => "calibrate";

    public override string Summary => "Collect the activation statistics the passes after it read (ranges, per-channel, XᵀX...) over calibration data; the model is unchanged.";

    public override StatisticsUse Statistics { get; } = new() { Collects = true, Preserves = StatisticsPreservation.All };

    public override PassResult Run(Model model, CalibrateOptions options, PassContext context)
    {
        var settings = context.GetAnalysis<CalibrationSettings>() ?? new CalibrationSettings();
        var rangeOptions = options.ToRangeOptions();
        var rangeSpec = rangeOptions.ObserverSpec();
        var requests = Requests(model, context);
        var targets = Targets(model, rangeSpec, options.Tensors, requests);
        if ((settings.LoadFrom ?? settings.SaveTo) is { } file && context.GetAnalysis<StatisticsSchedule>() is { Collectors.Count: > 1 } schedule)
            throw new OnnxQuantException($"{Name}: the recipe calibrates {schedule.Collectors.Count} times, and {file} can hold one calibration; " +
                "drop --save-calib/--load-calib, or split the recipe at the second calibrate step.");
        CalibrationStatistics statistics;
        var calibrating = settings;
        if (settings.LoadFrom is { } load)
        {
            statistics = CalibrationStatistics.Load(load);
            CheckCovers(model, statistics, targets, rangeSpec, requests, load);
            context.Log($"calibrate: reusing {statistics.Count} tensors' statistics from {load} ({statistics.Samples} samples).");
        }
        else
        {
            calibrating = HoldOut(model, settings, options.Data, context);
            statistics = CollectTargets(model, targets, calibrating, options.Data, context, options);
        }
        if (settings.SaveTo is { } save) statistics.Save(save);
        var chosen = options.Range == RangeChoice.ConsumerMse ? ChooseRanges(model, statistics, requests, options, calibrating, context) : null;
        var result = CalibrationResult.Bind(model, statistics, rangeOptions, chosen);
        context.Count("tensors", result.Ranges.Count);
        context.SetAnalysis(statistics);
        context.SetAnalysis(result);
        return PassResult.Unchanged;
    }

    /// <summary>
    /// <c>range: consumer-mse</c>: the range of every tensor a reader requested a range of, chosen per tensor
    /// (<see cref="ConsumerRanges"/>) on the samples this step calibrated on; each choice is counted
    /// (<c>calibrate.range-99.99</c>, …) and logged.
    /// </summary>
    private static Dictionary<string, TensorRange> ChooseRanges(Model model, CalibrationStatistics statistics, StatisticsRequests requests,
        CalibrateOptions options, CalibrationSettings settings, PassContext context)
    {
        var tensors = requests.Needs.Where(e => e.Value.Range && e.Key.Name is not null).Select(e => e.Key).ToList();
        // The consumer row sample runs the whole float model in one session: on a model that calibrates block-wise
        // (larger than memory) that would load every weight at once, so there each tensor is judged by its own
        // histogram error instead (the choice among the same candidates, without the readers' rows).
        var mode = settings.BlockWise ?? options.BlockWise;
        long weights = mode == BlockWiseMode.Off ? 0 : OnnxWriter.TotalTensorBytes(model);
        bool blockWise = mode == BlockWiseMode.On || (mode == BlockWiseMode.Auto && weights > CalibrateOptions.Bytes(options.BlockWiseAboveMb));
        if (blockWise)
        {
            context.Count("range-consumers-not-sampled");
            context.Log($"calibrate: range consumer-mse judges each tensor by its own histogram error: the model calibrates block-wise ({weights >> 20} MB of weights), and sampling its readers' rows would run it whole.");
        }
        var decisions = ConsumerRanges.Choose(model, statistics, tensors, options, () => settings.OpenData(model, options.Data), context, sampleReaders: !blockWise);
        var chosen = new Dictionary<string, TensorRange>(StringComparer.Ordinal);
        foreach (var d in decisions)
        {
            chosen[d.Tensor] = d.Chosen.Range;
            context.Count($"range-{d.Chosen.Name}");
            context.Count($"range-judged-by-{d.JudgedBy}");
            context.Log($"calibrate: {d.Tensor}: range {d.Chosen.Name} [{d.Chosen.Range.Min:G4}, {d.Chosen.Range.Max:G4}] by {d.JudgedBy} error, "
                + $"SQNR {d.SqnrDb:F1} dB ({string.Join(", ", d.Errors.Select(e => $"{e.Name} {e.Error:G3}"))})");
        }
        return chosen;
    }

    /// <summary>
    /// Collects <paramref name="requests"/> on <paramref name="model"/> now, over the data of the context's
    /// <see cref="CalibrationSettings"/>, for a pass that calibrates by itself: layer by layer (GPTQ: each layer's
    /// input as the already quantized layers before it produce it), or a transform run alone on <c>--data</c>.
    /// Nothing is saved or put in the context; the result is bound to <paramref name="model"/>'s values.
    /// </summary>
    /// <remarks>
    /// With <paramref name="afterBlock"/>, a run that goes block-wise (<c>--block-wise</c>, or <c>auto</c> above
    /// 2 GB of weights) hands each block's completed statistics to it as that block finishes, bound to the model, and
    /// the result returned holds only what no block completed (<see cref="CollectorOptions.AfterBlock"/>); a
    /// whole-model run never calls it and returns everything. <paramref name="blocks"/> gives the block-wise settings
    /// (<c>block-wise</c>, <c>block-mb</c>, …; only those are read); null: the calibrate step's defaults.
    /// <paramref name="tap"/> sees every batch of every collected tensor (<see cref="CollectorOptions.Tap"/>).
    /// </remarks>
    public static CalibrationResult Collect(Model model, StatisticsRequests requests, RangeOptions rangeOptions, PassContext context,
        Action<CompletedBlock, CalibrationResult>? afterBlock = null, CalibrateOptions? blocks = null, ObservedBatchVisitor? tap = null)
    {
        var settings = context.GetAnalysis<CalibrationSettings>() ?? new CalibrationSettings();
        var targets = Targets(model, rangeOptions.ObserverSpec(), CalibrationScope.Quantizer, requests);
        Action<CompletedBlock>? handOver = afterBlock is null ? null : block => afterBlock(block, CalibrationResult.Bind(model, block.Statistics, rangeOptions));
        return CalibrationResult.Bind(model, CollectTargets(model, targets, settings, null, context, blocks ?? new CalibrateOptions(), handOver, tap), rangeOptions);
    }

    private static CalibrationStatistics CollectTargets(Model model, List<KeyValuePair<string, ObserverSpec>> targets, CalibrationSettings settings,
        string? fallbackData, PassContext context, CalibrateOptions step, Action<CompletedBlock>? afterBlock = null, ObservedBatchVisitor? tap = null)
    {
        using var source = settings.OpenData(model, fallbackData);
        var statistics = CalibrationCollector.Collect(model, source, targets, new CollectorOptions
        {
            Runner = context.Runner,
            MemoryBudgetBytes = settings.MemoryBudgetBytes,
            BlockWise = settings.BlockWise ?? step.BlockWise,
            BlockWiseAboveBytes = CalibrateOptions.Bytes(step.BlockWiseAboveMb),
            BlockBytes = CalibrateOptions.Bytes(step.BlockMb),
            Progress = settings.Progress,
            Log = context.Log,
            Cancellation = context.Cancellation,
            AfterBlock = afterBlock,
            Tap = tap,
        });
        source.NonFinite.Report(source.Description, context.Log);
        context.Log($"calibrate: {statistics.Count} tensors over {statistics.Samples} samples of {source.Description}.");
        return statistics;
    }

    /// <summary>
    /// When an <c>auto-precision</c> step reads this step's statistics, its <c>holdout</c> last samples of the data
    /// are left out of calibration and named in the context (<see cref="HeldOutSamples"/>) for it to measure on; the
    /// settings returned calibrate on the others.
    /// </summary>
    private static CalibrationSettings HoldOut(Model model, CalibrationSettings settings, string? stepData, PassContext context)
    {
        var readers = context.CurrentStep is { } step && context.GetAnalysis<StatisticsSchedule>() is { } schedule ? schedule.ReadersOf(step) : [];
        int holdout = readers.Where(r => r.Pass is AutoPrecisionPass).Select(r => ((AutoPrecisionOptions)r.Options).Holdout).DefaultIfEmpty(0).Max();
        if (holdout <= 0) return settings;
        if (settings.Source.Shuffle)
            throw new OnnxQuantException("auto-precision holds out the last calibration samples in file order; calibrate without shuffling.");
        // Sampler data counts trajectories (--count, --skip): whole trajectories are held out, so that the measured
        // denoiser calls cover every timestep and none of them was seen in calibration. Counting the recorded feeds
        // instead (one per step) would ask the calibrate step for feeds-minus-holdout trajectories.
        bool sampler = settings.IsSamplerData(stepData);
        string unit = sampler ? "trajectories" : "samples";
        int available;
        if (sampler) available = settings.Source.Count ?? OnnxQuant.Runtime.Diffusion.SamplerTrajectories.DefaultTrajectories;
        else
            using (var probe = settings.OpenData(model, stepData)) available = probe.Count;
        if (available <= holdout)
            throw new OnnxQuantException($"auto-precision holds out {holdout} of the calibration {unit} to measure on, but the data gives {available}; "
                + $"give more {unit} (--count) or a smaller 'holdout'.");
        context.SetAnalysis(new HeldOutSamples(settings.Source.Skip + available - holdout, holdout));
        context.Log($"calibrate: {available - holdout} {unit} calibrate, the last {holdout} are held out for auto-precision.");
        return settings with { Source = settings.Source with { Count = available - holdout } };
    }

    /// <summary>What the readers of this step request, on the model as it is now.</summary>
    private static StatisticsRequests Requests(Model model, PassContext context) =>
        Requests(model, context.CurrentStep is { } step && context.GetAnalysis<StatisticsSchedule>() is { } schedule ? schedule.ReadersOf(step) : []);

    /// <summary>What <paramref name="readers"/> request of <paramref name="model"/>; a default insert-qdq's when there are none.</summary>
    private static StatisticsRequests Requests(Model model, IReadOnlyList<PassStep> readers)
    {
        var requests = new StatisticsRequests();
        if (readers.Count == 0) readers = [new PassStep(new InsertQdqPass())];
        foreach (var reader in readers) requests.AddFrom(reader, model);
        return requests;
    }

    /// <summary>
    /// The tensors (by name, as ONNX Runtime exposes them) and observers a calibrate step with
    /// <paramref name="rangeOptions"/> and <paramref name="scope"/> collects for <paramref name="readers"/> (e.g.
    /// <see cref="StatisticsSchedule.ReadersOf"/> of a recipe's calibrate step; none: a default insert-qdq's): what
    /// <c>onnxquant calibrate</c> saves, so that <c>--load-calib</c> later finds every request covered.
    /// </summary>
    public static List<KeyValuePair<string, ObserverSpec>> CollectionTargets(Model model, RangeOptions rangeOptions, CalibrationScope scope,
        IReadOnlyList<PassStep> readers) =>
        Targets(model, rangeOptions.ObserverSpec(), scope, Requests(model, readers));

    /// <summary>
    /// One observer per value, named as ONNX Runtime will expose it: the union of the requests, plus every
    /// floating-point activation's range with <see cref="CalibrationScope.All"/>. Values without a name cannot be
    /// exposed, and values whose recorded type is not floating-point have nothing to observe; both are left out (their
    /// readers find no statistics and say so).
    /// </summary>
    private static List<KeyValuePair<string, ObserverSpec>> Targets(Model model, ObserverSpec rangeSpec, CalibrationScope scope, StatisticsRequests requests)
    {
        var specs = new Dictionary<string, ObserverSpec>(StringComparer.Ordinal);
        var order = new List<string>();
        if (scope == CalibrationScope.All)
            foreach (var (name, spec) in CalibrationTargets.ActivationTargets(model, rangeSpec, CalibrationScope.All))
                if (specs.TryAdd(name, spec)) order.Add(name);
        foreach (var (value, need) in requests.Needs)
        {
            if (value.Name is not { } name || value.ElementType is { } t && !TensorStatistics.CanObserve(t)) continue;
            var spec = StatisticsRequests.SpecFor(need, rangeSpec);
            if (specs.TryGetValue(name, out var known)) specs[name] = known.Union(spec);
            else
            {
                specs[name] = spec;
                order.Add(name);
            }
        }
        return order.Select(n => new KeyValuePair<string, ObserverSpec>(n, specs[n])).ToList();
    }

    /// <summary>Loaded statistics must hold every requested part of every requested tensor (names are the boundary).</summary>
    private static void CheckCovers(Model model, CalibrationStatistics statistics, List<KeyValuePair<string, ObserverSpec>> targets,
        ObserverSpec rangeSpec, StatisticsRequests requests, string file)
    {
        var missing = targets.Select(t => t.Key).Where(n => !statistics.TryGet(n, out _)).ToList();
        // Non-float tensors whose type was unknown are dropped at collection; report only real gaps.
        missing.RemoveAll(n => model.Graph.Nodes.SelectMany(x => x.Outputs).FirstOrDefault(v => v?.Name == n)?.ElementType is null);
        if (missing.Count > 0)
            throw new OnnxQuantException($"{file} has no statistics for {missing.Count} of the model's activations (first: '{missing[0]}'). "
                + "They were collected on a different model or recipe, or for fewer tensors (a calibrate step with 'tensors: all' needs "
                + "statistics saved by 'onnxquant calibrate --all-tensors'); calibrate again.");
        foreach (var (value, need) in requests.Needs)
            if (value.Name is { } name && statistics.TryGet(name, out var have) && StatisticsRequests.Missing(need, rangeSpec, have) is { } lack)
                throw new OnnxQuantException($"{file} has {lack} for '{name}', which the recipe's passes after calibrate read; "
                    + "it was saved by another method or recipe. Calibrate again with this recipe (and its calibrate method).");
    }
}
