namespace OnnxQuant.Passes.Quantization;

/// <summary>What <c>insert-qdq</c> does with the constant weights (and biases) of the nodes it quantizes (recipes write
/// <c>quantized</c> or <c>float</c>).</summary>
public enum QdqWeights
{
    /// <summary>Integer weights with a DequantizeLinear (<c>weight-bits</c>, <c>rounding</c>) and int32 biases: what ORT fuses.</summary>
    Quantized,

    /// <summary>Weights and biases stay float; only the activations get Q/DQ (the same quantizers as with quantized
    /// weights). For accuracy studies of activation quantization alone: ORT forms no integer kernel from such nodes.</summary>
    Float,
}
