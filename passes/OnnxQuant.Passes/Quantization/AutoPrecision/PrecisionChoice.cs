namespace OnnxQuant.Passes.Quantization.AutoPrecision;

/// <summary>What auto-precision chooses for one quantizable node.</summary>
public enum PrecisionChoice
{
    /// <summary>The recipe's setting: int8 weights (per channel by default) and 8-bit activations: ORT's integer kernels.</summary>
    Int8,

    /// <summary>
    /// int8 as <see cref="Int8"/>, with the node's activation ranges at percentile 99.99 instead of the recipe's
    /// (clipping the rarest outliers: one global percentile is right for some tensors and wrong for others). Same
    /// kernels, same cost; offered when calibration kept histograms (method percentile, entropy or mse).
    /// </summary>
    Int8Clipped,

    /// <summary>16-bit activations (int16, opset 21): far finer steps, but ORT has no 16-bit kernels, so the node runs in float after DequantizeLinear.</summary>
    Int16,

    /// <summary>Left in float (no Q/DQ on its inputs and weights).</summary>
    Float,
}
