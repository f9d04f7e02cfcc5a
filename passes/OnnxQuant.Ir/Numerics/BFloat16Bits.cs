namespace OnnxQuant.Ir.Numerics;

/// <summary>
/// Bit-exact float32 ↔ bfloat16 (the upper half of a float32: 1 sign, 8 exponent, 7 mantissa bits) conversions, with
/// round-to-nearest-even like ONNX Cast and ONNX Runtime (ONNX's helper <c>float32_to_bfloat16</c>).
/// </summary>
public static class BFloat16Bits
{
    /// <summary>
    /// Rounds <paramref name="value"/> to bfloat16 bits, ties to even. ±∞ stay ±∞, finite values too large for
    /// bfloat16 become ±∞, and NaN stays NaN: sign and upper payload kept, quiet bit forced so that a signalling
    /// NaN whose payload sits in the low 16 bits does not turn into ∞.
    /// </summary>
    public static ushort FromFloat(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value)) return (ushort)((bits >> 16) | 0x0040u);
        // Adding 0x7FFF (+1 when the kept LSB is odd) carries into bit 16 exactly when the dropped half is above
        // one half-ULP, or equal to it and the kept part is odd; a carry out of the mantissa bumps the exponent,
        // which is the correct result (up to ∞).
        uint keptLsb = (bits >> 16) & 1u;
        return (ushort)((bits + 0x7FFFu + keptLsb) >> 16);
    }

    /// <summary>Widens bfloat16 bits to float32 (exact).</summary>
    public static float ToFloat(ushort bits) => BitConverter.UInt32BitsToSingle((uint)bits << 16);
}
