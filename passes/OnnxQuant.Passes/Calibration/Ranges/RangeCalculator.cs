using OnnxQuant.Ir;
using OnnxQuant.Runtime.Calibration.Statistics;

namespace OnnxQuant.Passes.Calibration.Ranges;

/// <summary>Ranges from statistics, per tensor or per channel, by the method of <see cref="RangeOptions"/>.</summary>
public static class RangeCalculator
{
    public static TensorRange Compute(TensorStatistics statistics, RangeOptions options)
    {
        if (statistics.MinMax.IsEmpty)
            throw new OnnxQuantException($"Tensor '{statistics.Name}' saw no finite values during calibration; it cannot be given a range. Check the calibration data, or exclude the tensor.");
        if (options.Method == CalibrationMethod.MinMax) return FromMinMax(statistics.MinMax, options);
        var histogram = statistics.Histogram ?? throw MissingHistogram(statistics.Name, options);
        return FromHistogram(histogram, options, statistics.Name);
    }

    /// <summary>The range of every tensor that saw finite values, computed in parallel (entropy is the costly one).</summary>
    public static Dictionary<string, TensorRange> ComputeAll(CalibrationStatistics statistics, RangeOptions options)
    {
        var tensors = statistics.Tensors.Values.Where(t => !t.MinMax.IsEmpty).ToArray();
        var ranges = new TensorRange[tensors.Length];
        Parallel.For(0, tensors.Length, i => ranges[i] = Compute(tensors[i], options));
        var result = new Dictionary<string, TensorRange>(StringComparer.Ordinal);
        for (int i = 0; i < tensors.Length; i++) result[tensors[i].Name] = ranges[i];
        return result;
    }

    /// <summary>One range per channel along the axis the statistics were collected for.</summary>
    public static TensorRange[] ComputeChannels(TensorStatistics statistics, RangeOptions options)
    {
        var channels = statistics.Channels ?? throw new OnnxQuantException(
            $"Tensor '{statistics.Name}' has no per-channel statistics; calibrate it with a channel axis.");
        var result = new TensorRange[channels.Channels];
        for (int c = 0; c < result.Length; c++)
        {
            var minMax = channels.MinMax[c];
            if (minMax.IsEmpty)
                throw new OnnxQuantException($"Channel {c} of tensor '{statistics.Name}' saw no finite values during calibration.");
            if (options.Method == CalibrationMethod.MinMax) result[c] = FromMinMax(minMax, options);
            else
            {
                var histogram = channels.Histograms?[c] ?? throw MissingHistogram(statistics.Name + " (per channel)", options);
                result[c] = FromHistogram(histogram, options, $"{statistics.Name}[channel {c}]");
            }
        }
        return result;
    }

    public static TensorRange FromMinMax(MinMaxStatistic minMax, RangeOptions options)
    {
        double lo = minMax.Min, hi = minMax.Max;
        if (options.MovingAverage)
        {
            if (!minMax.MovingAverage) throw new OnnxQuantException("The moving-average range needs statistics collected with a moving average.");
            lo = minMax.MovingMin;
            hi = minMax.MovingMax;
        }
        return options.Symmetric ? TensorRange.Symmetric(Math.Max(Math.Abs(lo), Math.Abs(hi))) : new TensorRange(lo, hi);
    }

    public static TensorRange FromHistogram(Histogram histogram, RangeOptions options, string name = "tensor")
    {
        switch (options.Method)
        {
            case CalibrationMethod.MinMax:
                return options.Symmetric
                    ? TensorRange.Symmetric(histogram.Absolute ? histogram.Max : Math.Max(Math.Abs(histogram.Min), Math.Abs(histogram.Max)))
                    : new TensorRange(histogram.Min, histogram.Max);
            case CalibrationMethod.Percentile:
            {
                if (!(options.Percentile > 0 && options.Percentile <= 100))
                    throw new OnnxQuantException($"Percentile {options.Percentile} is not in (0, 100].");
                if (options.Symmetric)
                {
                    var magnitudes = histogram.Absolute ? histogram : histogram.ToAbsolute();
                    return TensorRange.Symmetric(magnitudes.Quantile(options.Percentile / 100));
                }
                RequireSigned(histogram, name, options);
                double cut = (100 - options.Percentile) / 200;
                return new TensorRange(histogram.Quantile(cut), histogram.Quantile(1 - cut));
            }
            case CalibrationMethod.Entropy:
            {
                RequireSigned(histogram, name, options);
                var r = EntropyCalibration.Range(histogram, options.QuantizedBins);
                return options.Symmetric ? TensorRange.Symmetric(r.AbsMax) : r;
            }
            case CalibrationMethod.Mse:
                if (!options.Symmetric) RequireSigned(histogram, name, options);
                return MseSearch.Range(histogram, options.Target, options.Symmetric, options.MseGrid, options.MsePercentiles);
            default:
                throw new ArgumentOutOfRangeException(nameof(options), options.Method, null);
        }
    }

    private static void RequireSigned(Histogram histogram, string name, RangeOptions options)
    {
        if (histogram.Absolute)
            throw new OnnxQuantException($"Tensor '{name}' has a histogram of |x|, but the {Describe(options)} method needs signed values; calibrate again with that method.");
    }

    private static OnnxQuantException MissingHistogram(string name, RangeOptions options) =>
        new($"Tensor '{name}' has no histogram, which the {Describe(options)} method needs; calibrate with --method {EnumSpelling.Of(options.Method)}.");

    private static string Describe(RangeOptions options) =>
        (options.Symmetric ? "symmetric " : "asymmetric ") + EnumSpelling.Of(options.Method);
}
