using OnnxQuant.Ir;

namespace OnnxQuant.Tests.Serialization;

/// <summary>
/// Textbook decoders for ONNX's small float formats, written from the bit layouts (ONNX docs/technical/float8.md,
/// float4.md, IEEE 754) and sharing no code with OnnxQuant.Ir.Numerics, so tests can check our decoding against them:
/// value = (−1)^s · 2^(e − bias) · (1 + m / 2^M), or 2^(1 − bias) · m / 2^M when e = 0.
/// </summary>
internal static class ReferenceFloat
{
    public static double Float16(ushort bits) => Ieee(bits, exponentBits: 5, mantissaBits: 10, bias: 15);

    public static double BFloat16(ushort bits) => Ieee(bits, exponentBits: 8, mantissaBits: 7, bias: 127);

    public static double Float8(byte bits, DataType type) => type switch
    {
        // E4M3FN: no infinities; S.1111.111 is NaN.
        DataType.Float8E4M3FN => (bits & 0x7F) == 0x7F ? double.NaN : Finite(bits, 4, 3, 7),
        // FNUZ formats: no infinities, no negative zero; 0x80 is the only NaN.
        DataType.Float8E4M3FNUZ => bits == 0x80 ? double.NaN : Finite(bits, 4, 3, 8),
        DataType.Float8E5M2 => Ieee(bits, exponentBits: 5, mantissaBits: 2, bias: 15),
        DataType.Float8E5M2FNUZ => bits == 0x80 ? double.NaN : Finite(bits, 5, 2, 16),
        // E8M0: an unsigned exponent only, 2^(e − 127); 0xFF is NaN.
        DataType.Float8E8M0 => bits == 0xFF ? double.NaN : Math.ScaleB(1.0, bits - 127),
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "Not an 8-bit float type."),
    };

    /// <summary>FLOAT4E2M1: S.EE.M, bias 1, every code finite.</summary>
    public static double Float4E2M1(int nibble) => Finite(nibble, 2, 1, 1);

    /// <summary>IEEE-style: the all-ones exponent is ∞ (mantissa 0) or NaN.</summary>
    private static double Ieee(int bits, int exponentBits, int mantissaBits, int bias)
    {
        int allOnes = (1 << exponentBits) - 1;
        if (((bits >> mantissaBits) & allOnes) != allOnes) return Finite(bits, exponentBits, mantissaBits, bias);
        bool negative = ((bits >> (exponentBits + mantissaBits)) & 1) != 0;
        if ((bits & ((1 << mantissaBits) - 1)) != 0) return double.NaN;
        return negative ? double.NegativeInfinity : double.PositiveInfinity;
    }

    private static double Finite(int bits, int exponentBits, int mantissaBits, int bias)
    {
        int mantissa = bits & ((1 << mantissaBits) - 1);
        int exponent = (bits >> mantissaBits) & ((1 << exponentBits) - 1);
        bool negative = ((bits >> (exponentBits + mantissaBits)) & 1) != 0;
        double magnitude = exponent == 0
            ? mantissa * Math.ScaleB(1.0, 1 - bias - mantissaBits)
            : (1 + mantissa / Math.ScaleB(1.0, mantissaBits)) * Math.ScaleB(1.0, exponent - bias);
        return negative ? -magnitude : magnitude;
    }
}
