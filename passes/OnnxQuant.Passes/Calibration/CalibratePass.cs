using OnnxQuant.Ir;
using OnnxQuant.Passes.Calibration.DataSources;
using OnnxQuant.Passes.Calibration.Ranges;
using OnnxQuant.Passes.Calibration.Statistics;
using OnnxQuant.Passes.Quantization;

namespace OnnxQuant.Passes.Calibration;

/// <summary>
/// Runs the model over calibration data and records the statistics and range of the activations insert-qdq reads
/// (of every floating-point activation with <c>tensors: all</c>), as a <see cref="CalibrationResult"/> in the
/// context's analyses for the quantization passes after it. The model is
/// not changed. Data and run settings come from <see cref="CalibrationSettings"/> in the context (the recipe's
/// <c>calibration:</c> section and the command line); statistics saved earlier (<c>--load-calib</c>) are reused
/// instead of running the model, provided they cover the model's activations.
/// </summary>
public sealed class CalibratePass : Pass<CalibrateOptions>
{
    public override string Name => "calibrate";

    public override string Summary => "Collect activation statistics and ranges over calibration data (the model is unchanged).";

    public override IReadOnlyList<string> Provides => ["calibrated"];

    public override PassResult Run(Model model, CalibrateOptions options, PassContext context)
    {
        var settings = context.GetAnalysis<CalibrationSettings>() ?? new CalibrationSettings();
        var rangeOptions = options.ToRangeOptions();
        var spec = rangeOptions.ObserverSpec();
        var targets = CalibrationCollector.ActivationTargets(model, spec, options.Tensors, QuantizedOpTypes(context));
        CalibrationStatistics statistics;
        if (settings.LoadFrom is { } load)
        {
            statistics = CalibrationStatistics.Load(load);
            var missing = targets.Select(t => t.Key).Where(n => !statistics.TryGet(n, out _)).ToList();
            // Non-float tensors whose type was unknown are dropped at collection; report only real gaps.
            missing.RemoveAll(n => model.Graph.Nodes.SelectMany(x => x.Outputs).FirstOrDefault(v => v?.Name == n)?.ElementType is null);
            if (missing.Count > 0)
                throw new OnnxQuantException($"{load} has no statistics for {missing.Count} of the model's activations (first: '{missing[0]}'). "
                    + "They were collected on a different model or recipe, or for fewer tensors (a calibrate step with 'tensors: all' needs "
                    + "statistics saved by 'onnxquant calibrate --all-tensors'); calibrate again.");
            context.Log($"calibrate: reusing {statistics.Count} tensors' statistics from {load} ({statistics.Samples} samples).");
        }
        else
        {
            string data = settings.Data ?? options.Data ?? throw new OnnxQuantException(MissingDataMessage.For(model));
            using var source = CalibrationDataSource.Open(data, model, settings.Source);
            statistics = CalibrationCollector.Collect(model, source, targets, new CollectorOptions
            {
                Runner = context.Runner,
                MemoryBudgetBytes = settings.MemoryBudgetBytes,
                Progress = settings.Progress,
                Log = context.Log,
                Cancellation = context.Cancellation,
            });
            source.NonFinite.Report(source.Description, context.Log);
            context.Log($"calibrate: {statistics.Count} tensors over {statistics.Samples} samples of {source.Description}.");
        }
        if (settings.SaveTo is { } save) statistics.Save(save);
        var ranges = RangeCalculator.ComputeAll(statistics, rangeOptions);
        context.Count("tensors", ranges.Count);
        context.SetAnalysis(statistics);
        context.SetAnalysis(new CalibrationResult(statistics, rangeOptions, ranges));
        return PassResult.Unchanged;
    }

    /// <summary>
    /// The op types the pipeline's <c>insert-qdq</c> steps quantize beyond the compute ops (Add, Concat, Softmax...
    /// listed in their <c>op-types</c>), so that the default scope calibrates what they will read; null outside a
    /// pipeline (the compute ops only).
    /// </summary>
    private static IEnumerable<string>? QuantizedOpTypes(PassContext context)
    {
        var listed = context.GetAnalysis<PipelinePlan>()?.OptionsOf<QdqInsertionPass, QdqInsertionOptions>().SelectMany(o => o.OpTypes).ToList();
        return listed is null || listed.Count == 0 ? null : listed.Concat(QdqInsertionPass.SupportedOpTypes).Distinct(StringComparer.Ordinal).ToList();
    }
}
