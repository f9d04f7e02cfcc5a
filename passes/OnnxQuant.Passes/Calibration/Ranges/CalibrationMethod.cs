namespace OnnxQuant.Passes.Calibration.Ranges;

/// <summary>How a range is chosen from a tensor's statistics (ALGORITHMS.md §1.2 and §5).</summary>
public enum CalibrationMethod
{
    /// <summary>Global min/max (or ORT's moving average of per-batch min/max).</summary>
    MinMax,

    /// <summary>A quantile of the histogram (ORT: 99.999 of |x| by default; two-sided for asymmetric ranges).</summary>
    Percentile,

    /// <summary>The clip that minimizes KL(p‖q) between the histogram and its quantized form (ORT's entropy calibrator).</summary>
    Entropy,

    /// <summary>The clip, among candidates, with the least quantization mean squared error for the target type.</summary>
    Mse,
}
