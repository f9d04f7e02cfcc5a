namespace OnnxQuant.Ir.Numerics;

/// <summary>
/// Bit-exact conversions for ONNX <c>FLOAT4E2M1</c> (OCP MX FP4): a nibble S.EE.M with exponent bias 1, magnitudes
/// {0, 0.5, 1, 1.5, 2, 3, 4, 6}, no ∞ and no NaN. Rules from ONNX docs/technical/float4.md ("Cast" table).
/// </summary>
public static class Float4E2M1
{
    private const int MantissaBits = 1;
    private const int Bias = 1;
    private const int MaxCode = 0x7;
    private const int SignBit = 0x8;

    /// <summary>
    /// Converts <paramref name="value"/> to a FLOAT4E2M1 nibble (0..15, sign in bit 3), rounding to nearest even.
    /// |x| &gt; 6 and ±∞ clamp to ±6, ±0 keeps its sign, and NaN becomes +6, as ONNX's float4 Cast table says.
    /// </summary>
    /// <param name="saturate">
    /// Accepted for symmetry with <see cref="Float8.Encode"/>, but it changes nothing: the format has no ∞ or NaN
    /// to overflow to, ONNX defines clamping for every out-of-range input, and Cast's <c>saturate</c> attribute only
    /// applies to float8 targets.
    /// </param>
    public static byte Encode(float value, bool saturate = true)
    {
        _ = saturate;
        if (float.IsNaN(value)) return MaxCode;

        uint bits = BitConverter.SingleToUInt32Bits(value);
        int sign = (bits & 0x80000000u) != 0 ? SignBit : 0;
        if (float.IsInfinity(value)) return (byte)(sign | MaxCode);

        int code = MiniFloat.RoundToNearestEven(bits & 0x7FFFFFFFu, MantissaBits, Bias);
        return (byte)(sign | Math.Min(code, MaxCode));
    }

    /// <summary>Converts a FLOAT4E2M1 nibble (only the low 4 bits are read) to float32 (exact).</summary>
    public static float Decode(byte nibble)
    {
        float magnitude = MiniFloat.DecodeMagnitude(nibble & MaxCode, MantissaBits, Bias);
        return (nibble & SignBit) != 0 ? -magnitude : magnitude;
    }
}
