namespace OnnxQuant.Runtime.Calibration.Statistics;

/// <summary>
/// What to collect for one tensor. Min/max is always kept (it is cheap, and every range method clamps to it); a
/// histogram serves the percentile, entropy and MSE methods alike; the per-channel statistics split the tensor along
/// <see cref="ChannelAxis"/>; <see cref="SecondMoment"/> accumulates Σxxᵀ over the last axis; <see cref="Tokens"/>
/// summarizes each token's (row's) abs-max.
/// </summary>
public sealed record ObserverSpec
{
    /// <summary>Keep ORT's moving average of per-batch min/max as well (order-dependent; see MinMaxStatistic).</summary>
    public bool MovingAverage { get; init; }

    public double AveragingConstant { get; init; } = MinMaxStatistic.DefaultAveragingConstant;

    public HistogramKind Histogram { get; init; } = HistogramKind.None;

    public int HistogramResolution { get; init; } = Statistics.Histogram.DefaultResolution;

    /// <summary>Axis for per-channel statistics (negative counts from the end, −1 = last); null for none.</summary>
    public int? ChannelAxis { get; init; }

    /// <summary>Per-channel histograms (besides per-channel min/max, abs-max and mean |x|).</summary>
    public HistogramKind ChannelHistogram { get; init; } = HistogramKind.None;

    /// <summary>Per-channel histograms are coarser by default: one per channel adds up (ViT-B: 768 channels).</summary>
    public int ChannelHistogramResolution { get; init; } = 512;

    /// <summary>Accumulate Σxxᵀ over rows of the last axis (GPTQ's Hessian).</summary>
    public bool SecondMoment { get; init; }

    /// <summary>Per-token statistics over rows of the last axis (<see cref="TokenStatistics"/>).</summary>
    public bool Tokens { get; init; }

    public static ObserverSpec MinMaxOnly { get; } = new();

    /// <summary>Merges two requests for the same tensor (e.g. from two passes): the union of what both collect.</summary>
    public ObserverSpec Union(ObserverSpec other)
    {
        if (ChannelAxis is not null && other.ChannelAxis is not null && ChannelAxis != other.ChannelAxis)
            throw new ArgumentException($"Per-channel statistics along axes {ChannelAxis} and {other.ChannelAxis} of one tensor are not supported.");
        if (Histogram != HistogramKind.None && other.Histogram != HistogramKind.None && Histogram != other.Histogram)
            throw new ArgumentException($"One tensor cannot keep both a {Histogram} and a {other.Histogram} histogram.");
        return new ObserverSpec
        {
            MovingAverage = MovingAverage || other.MovingAverage,
            AveragingConstant = MovingAverage ? AveragingConstant : other.AveragingConstant,
            Histogram = Histogram != HistogramKind.None ? Histogram : other.Histogram,
            HistogramResolution = Math.Max(HistogramResolution, other.HistogramResolution),
            ChannelAxis = ChannelAxis ?? other.ChannelAxis,
            ChannelHistogram = ChannelHistogram != HistogramKind.None ? ChannelHistogram : other.ChannelHistogram,
            ChannelHistogramResolution = Math.Max(ChannelHistogramResolution, other.ChannelHistogramResolution),
            SecondMoment = SecondMoment || other.SecondMoment,
            Tokens = Tokens || other.Tokens,
        };
    }
}
