namespace OnnxQuant.Passes.Quantization;

/// <summary>Integer type of quantized activations (recipes write <c>uint8</c> or <c>int8</c>).</summary>
public enum QdqActivationType
{
    /// <summary>uint8, the type ONNX Runtime's x86 integer kernels are fastest with (u8·s8 products).</summary>
    UInt8,
    Int8,
}
