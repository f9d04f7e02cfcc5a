namespace OnnxQuant.Passes.Quantization;

/// <summary>How many scales a weight gets (recipes write <c>per-channel</c> or <c>per-tensor</c>).</summary>
public enum QdqWeightGranularity
{
    /// <summary>One scale per output channel: Conv axis 0, ConvTranspose axis 1, MatMul B axis 1, Gemm B axis 0 if transB else 1.</summary>
    PerChannel,
    PerTensor,
}
