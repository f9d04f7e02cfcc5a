namespace OnnxQuant.Passes.Quantization;

/// <summary>
/// Type of quantized activations (recipes write <c>uint8</c>, <c>int8</c>, <c>int16</c>, <c>uint16</c>, <c>int4</c>,
/// <c>uint4</c> or <c>float8</c>, whose format <c>float8-format</c> picks). Fewer bits than the type holds are emulated with
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

    /// <summary>float8 (opset 19) in the pass's <c>float8-format</c> (E4M3FN: max 448, no infinities; E5M2: max 57344),
    /// zero point 0; not fused by ORT's CPU provider.</summary>
    Float8,
}
