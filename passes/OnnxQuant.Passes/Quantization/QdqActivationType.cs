namespace OnnxQuant.Passes.Quantization;

/// <summary>
/// Type of quantized activations (recipes write <c>uint8</c>, <c>int8</c>, <c>int16</c>, <c>uint16</c>, <c>int4</c>,
/// <c>uint4</c>, <c>float8-e4m3fn</c> or <c>float8-e5m2</c>). Fewer bits than the type holds are emulated with
/// <c>activation-bits</c>.
/// </summary>
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

    /// <summary>int4 (opset 21). ONNX Runtime 1.31's CPU provider has int4 QuantizeLinear/DequantizeLinear but no
    /// int4 activation kernels: the readers run in float after the DequantizeLinear (for accuracy studies and custom ops).</summary>
    Int4,

    /// <summary>uint4 (opset 21); see <see cref="Int4"/>.</summary>
    UInt4,

    /// <summary>float8 E4M3FN (opset 19; max 448, no infinities), zero point 0; not fused by ORT's CPU provider.</summary>
    Float8E4m3fn,

    /// <summary>float8 E5M2 (opset 19; max 57344), zero point 0; not fused by ORT's CPU provider.</summary>
    Float8E5m2,
}
