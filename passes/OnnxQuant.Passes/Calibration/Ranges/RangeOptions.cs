using OnnxQuant.Ir;
using OnnxQuant.Runtime.Calibration.Statistics;

namespace OnnxQuant.Passes.Calibration.Ranges;

/// <summary>How to turn statistics into ranges, and (via <see cref="ObserverSpec"/>) what that needs collected.</summary>
public sealed record RangeOptions
{
    public CalibrationMethod Method { get; init; } = CalibrationMethod.MinMax;

    /// <summary>Symmetric ranges ±T (histograms of |x|) instead of [min, max] (signed histograms).</summary>
    public bool Symmetric { get; init; }

    /// <summary>Percentile method: percent of values kept (ORT's default 99.999); asymmetric ranges cut half the rest on each side.</summary>
    public double Percentile { get; init; } = 99.999;

    /// <summary>Entropy method: bins of the quantized distribution (ORT: 128).</summary>
    public int QuantizedBins { get; init; } = 128;

    /// <summary>MinMax method: use the moving average of per-batch min/max (order-dependent).</summary>
    public bool MovingAverage { get; init; }

    /// <summary>MSE method: the type whose quantization error is minimized.</summary>
    public QuantTarget Target { get; init; } = new(DataType.Int8, symmetric: true);

    /// <summary>MSE method: shrink-grid candidates, range·(1 − i/Grid) for i = 0 … Grid−1 (ALGORITHMS.md §5: 100).</summary>
    public int MseGrid { get; init; } = 100;

    /// <summary>MSE method: also try the quantile ranges of these fractions (RepQ-ViT: 0.999, 0.9999, 0.99999).</summary>
    public IReadOnlyList<double> MsePercentiles { get; init; } = [];

    /// <summary>Histogram resolution to collect (bins across the observed range).</summary>
    public int HistogramResolution { get; init; } = Histogram.DefaultResolution;

    /// <summary>What to collect for a tensor so that this method can run.</summary>
    public ObserverSpec ObserverSpec() => Method switch
    {
        CalibrationMethod.MinMax => new ObserverSpec { MovingAverage = MovingAverage },
        CalibrationMethod.Percentile => new ObserverSpec { Histogram = Symmetric ? HistogramKind.Absolute : HistogramKind.Signed, HistogramResolution = HistogramResolution },
        CalibrationMethod.Entropy => new ObserverSpec { Histogram = HistogramKind.Signed, HistogramResolution = HistogramResolution },
        // |x| suffices for a symmetric signed target (its error is even in x); anything else needs the sign.
        CalibrationMethod.Mse => new ObserverSpec
        {
            Histogram = Symmetric && (Target.IsFloat8 || Target.Type.IsSigned()) ? HistogramKind.Absolute : HistogramKind.Signed,
            HistogramResolution = HistogramResolution,
        },
        _ => throw new ArgumentOutOfRangeException(nameof(Method), Method, null),
    };
}
