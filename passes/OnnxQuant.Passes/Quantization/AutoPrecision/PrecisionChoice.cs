namespace OnnxQuant.Passes.Quantization.AutoPrecision;

/// <summary>What auto-precision chooses for one quantizable node.</summary>
public enum PrecisionChoice
{
    /// <summary>The recipe's setting: int8 weights (per channel by default) and 8-bit activations: ORT's integer kernels.</summary>
    Int8,

    /// <summary>16-bit activations (int16, opset 21): far finer steps, but ORT has no 16-bit kernels, so the node runs in float after DequantizeLinear.</summary>
    Int16,

    /// <summary>Left in float (no Q/DQ on its inputs and weights).</summary>
    Float,
}
