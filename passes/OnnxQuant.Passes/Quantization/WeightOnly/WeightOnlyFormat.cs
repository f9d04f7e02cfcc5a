namespace OnnxQuant.Passes.Quantization.WeightOnly;

/// <summary>How <see cref="QuantizeWeightsPass"/> writes a quantized MatMul/Gemm (recipes write <c>matmulnbits</c> or <c>dq</c>).</summary>
public enum WeightOnlyFormat
{
    /// <summary>com.microsoft MatMulNBits: ORT's packed n-bit kernel (ALGORITHMS.md §6).</summary>
    MatMulNBits,

    /// <summary>Standard ONNX: blocked DequantizeLinear (opset 21) on the weight, feeding the original MatMul/Gemm.</summary>
    Dq,
}
