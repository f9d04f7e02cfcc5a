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

/// <summary>The 8-bit float format of <c>activation-type: float8</c>.</summary>
public enum Float8Format
{
    /// <summary>E4M3FN: 4 exponent and 3 mantissa bits, max 448, no infinities.</summary>
    E4m3fn,

    /// <summary>E5M2: 5 exponent and 2 mantissa bits, max 57344, IEEE-like.</summary>
    E5m2,
}
