using System.ComponentModel;

namespace OnnxQuant.Passes.Quantization.BiasCorrection;

/// <summary>Options of <see cref="BiasCorrectionPass"/>.</summary>
public sealed class BiasCorrectionOptions
{
    [Description("give a Conv or Gemm without a bias one (an int32 DequantizeLinear at scale s_x·s_w, as insert-qdq writes biases) to hold the correction; a MatMul never gets one (an Add after it is not free)")]
    public bool AddBias { get; set; } = true;
}
