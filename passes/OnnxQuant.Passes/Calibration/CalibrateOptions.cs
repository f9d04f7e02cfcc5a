using System.ComponentModel;
using OnnxQuant.Ir;
using OnnxQuant.Passes.Calibration.Ranges;
using OnnxQuant.Runtime.Calibration;
using OnnxQuant.Passes.Calibration.Ranges.Consumer;
using OnnxQuant.Runtime.Calibration.Statistics;

namespace OnnxQuant.Passes.Calibration;

/// <summary>Options of the <c>calibrate</c> pass (a recipe's <c>- calibrate: { method: percentile }</c>).</summary>
public sealed class CalibrateOptions : IOptionRecord
{
    [Description("How ranges are chosen: min-max, percentile, entropy or mse.")]
    public CalibrationMethod Method { get; set; } = CalibrationMethod.MinMax;

    [Description("Symmetric ranges ±T (histograms of |x|) instead of [min, max].")]
    public bool Symmetric { get; set; }

    [Description("Percent of values the percentile method keeps.")]
    public double Percentile { get; set; } = 99.999;

    [Description("min-max: ORT's moving average of per-batch min/max (order-dependent).")]
    public bool MovingAverage { get; set; }

    [Description("Histogram bins across each tensor's range.")]
    public int HistogramResolution { get; set; } = Histogram.DefaultResolution;

    [Description("Which activations to observe: quantizer (what the passes after calibrate request, e.g. the ranges insert-qdq reads; the same result, less work) or all (also every other activation's range).")]
    public CalibrationScope Tensors { get; set; } = CalibrationScope.Quantizer;

    [Description("mse: also try RepQ-ViT's quantile ranges (0.999, 0.9999, 0.99999 of the values) besides the shrink grid.")]
    public bool MseQuantiles { get; set; }

    [Description("Run the model whole (off), one block at a time (on: peak memory about one block plus the activations at a cut; the same statistics), or block-wise when its weights exceed block-wise-above-mb (auto).")]
    public BlockWiseMode BlockWise { get; set; } = BlockWiseMode.Auto;

    [Description("auto: block-wise when the model's weights are more than this many MB.")]
    public double BlockWiseAboveMb { get; set; } = 2048;

    [Description("Block-wise: most MB of weights per block (stretches between cuts are grouped up to this).")]
    public double BlockMb { get; set; } = 64;

    [Description("How each tensor's range is chosen: method (the 'method' above for every tensor) or consumer-mse (per tensor, the candidate with the least output error of the linear layers reading it, else of the tensor itself; docs/ranges.md).")]
    public RangeChoice Range { get; set; } = RangeChoice.Method;

    [Description("consumer-mse: the candidate ranges tried per tensor (max, percentiles such as 99.99, entropy, mse).")]
    public List<string> RangeCandidates { get; set; } = [.. RangeCandidate.DefaultNames];

    [Description("consumer-mse: input rows (output positions) sampled per consumer layer (at most 4 MiB of them).")]
    public int RangeRows { get; set; } = 512;

    [Description("consumer-mse: calibration samples (evenly spaced) the rows are drawn from.")]
    public int RangeSamples { get; set; } = 32;

    [Description("Calibration data, when neither the command line nor the recipe's calibration section gives any.")]
    public string? Data { get; set; }

    /// <summary>Megabytes (2^20 bytes) as bytes, for the block-wise sizes; at least one byte.</summary>
    public static long Bytes(double megabytes) => megabytes > 0 && double.IsFinite(megabytes)
        ? Math.Max(1, (long)Math.Min(megabytes * (1 << 20), long.MaxValue / 2))
        : throw new OnnxQuantException($"Block-wise calibration sizes are positive numbers of MB; {megabytes} is not.");

    public RangeOptions ToRangeOptions() => new()
    {
        Method = Method,
        Symmetric = Symmetric,
        Percentile = Percentile,
        MovingAverage = MovingAverage,
        HistogramResolution = HistogramResolution,
        MsePercentiles = MseQuantiles ? Quantization.Repq.RepqVitPass.CandidateFractions : [],
    };

    public string? Problem()
    {
        if (Range == RangeChoice.Method) return null;
        if (RangeCandidates.Count == 0) return "range-candidates is empty; list at least one, e.g. [max, 99.999, 99.99, mse].";
        foreach (string name in RangeCandidates)
            if (RangeCandidate.Check(name) is { } why) return why + ".";
        if (RangeRows < 1) return $"range-rows is {RangeRows}; it must be at least 1 (e.g. 'range-rows: 512').";
        if (RangeSamples < 1) return $"range-samples is {RangeSamples}; it must be at least 1 (e.g. 'range-samples: 32').";
        if (Method == CalibrationMethod.MinMax || Symmetric)
            return "range: consumer-mse chooses among candidates from signed histograms; use it with an asymmetric 'method: percentile', entropy or mse "
                + "(the method's range is what tensors without a choice keep).";
        return null;
    }
}
