namespace OnnxQuant.Passes.Quantization;

/// <summary>Integer type of quantized activations (recipes write <c>uint8</c>, <c>int8</c>, <c>int16</c> or <c>uint16</c>).</summary>
public enum QdqActivationType
{
    /// <summary>uint8, the type ONNX Runtime's x86 integer kernels are fastest with (u8·s8 products).</summary>
    UInt8,
    Int8,

    /// <summary>
    /// int16 (opset 21): 256× finer steps for accuracy-sensitive tensors. Not faster on CPU: ORT has no 16-bit integer
    /// kernels, so the nodes reading it run in float after a DequantizeLinear.
    /// </summary>
    Int16,

    /// <summary>uint16 (opset 21); see <see cref="Int16"/>.</summary>
    UInt16,
}
