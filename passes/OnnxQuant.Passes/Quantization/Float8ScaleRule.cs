namespace OnnxQuant.Passes.Quantization;

/// <summary>How a float8 activation's scale follows from its calibration (ALGORITHMS.md §5 and §11).</summary>
public enum Float8ScaleRule
{
    /// <summary>s = max(|min|, |max|) of the calibrated range / the format's largest finite value (448 for E4M3FN).</summary>
    Range,

    /// <summary>ONNX Runtime's "distribution" rule: s = std(x) / std(every finite value of the format), std from the
    /// calibrated histogram (the calibrate step must keep one: method percentile, entropy or mse).</summary>
    Distribution,
}
