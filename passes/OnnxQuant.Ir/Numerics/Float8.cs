using System.Numerics;

namespace OnnxQuant.Ir.Numerics;

/// <summary>
/// Bit-exact conversions between float32 and ONNX's 8-bit float element types, as ONNX defines them: operator Cast
/// (opset 24 tables, for <c>saturate</c> and <c>round_mode</c>) and docs/technical/float8.md (bit layouts).
/// </summary>
/// <remarks>
/// <list type="table">
/// <item><term>E4M3FN</term><description>bias 7, no ∞, NaN = S.1111.111 (0x7F/0xFF), max 448 (0x7E).</description></item>
/// <item><term>E4M3FNUZ</term><description>bias 8, no ∞, no −0, NaN = 0x80 only, max 240 (0x7F).</description></item>
/// <item><term>E5M2</term><description>bias 15, IEEE-like: ∞ = S.11111.00, NaN = S.11111.{01,10,11}, max 57344 (0x7B).</description></item>
/// <item><term>E5M2FNUZ</term><description>bias 16, no ∞, no −0, NaN = 0x80 only, max 57344 (0x7F).</description></item>
/// <item><term>E8M0</term><description>no sign or mantissa: code e is 2^(e−127), 0xFF = NaN (see <see cref="EncodeE8M0"/>).</description></item>
/// </list>
/// Encoding rounds to nearest, ties to even, including into the subnormal range. Out of range ("[x] &gt; FLT_MAX",
/// i.e. after rounding) and ±∞: with <c>saturate</c> the result is ±max finite; without it, ±∞ for E5M2 and NaN for
/// the other formats. NaN keeps its sign where the format has signed NaNs (E4M3FN, E5M2); note that .NET's
/// <see cref="float.NaN"/> has its sign bit set, so it encodes to 0xFF there. Decoding is exact.
/// </remarks>
public static class Float8
{
    private readonly record struct Format(int MantissaBits, int Bias, int MaxCode, bool Fnuz, bool HasInfinity);

    private static Format Describe(DataType format) => format switch
    {
        DataType.Float8E4M3FN => new Format(3, 7, 0x7E, Fnuz: false, HasInfinity: false),
        DataType.Float8E4M3FNUZ => new Format(3, 8, 0x7F, Fnuz: true, HasInfinity: false),
        DataType.Float8E5M2 => new Format(2, 15, 0x7B, Fnuz: false, HasInfinity: true),
        DataType.Float8E5M2FNUZ => new Format(2, 16, 0x7F, Fnuz: true, HasInfinity: false),
        _ => throw new ArgumentOutOfRangeException(nameof(format), format,
            $"{format} is not an 8-bit float type (expected Float8E4M3FN, Float8E4M3FNUZ, Float8E5M2, Float8E5M2FNUZ or Float8E8M0)."),
    };

    /// <summary>
    /// Converts <paramref name="value"/> to the 8-bit float <paramref name="format"/>. For
    /// <see cref="DataType.Float8E8M0"/> this is <see cref="EncodeE8M0"/> with Cast's default rounding (up).
    /// </summary>
    public static byte Encode(float value, DataType format, bool saturate = true)
    {
        if (format == DataType.Float8E8M0) return EncodeE8M0(value, E8M0Rounding.Up, saturate);
        var f = Describe(format);

        uint bits = BitConverter.SingleToUInt32Bits(value);
        int sign = (int)(bits >> 24) & 0x80;
        if (float.IsNaN(value)) return f.Fnuz ? (byte)0x80 : (byte)(sign | 0x7F);
        if (float.IsInfinity(value)) return saturate ? (byte)(sign | f.MaxCode) : Overflow(f, sign);

        int code = MiniFloat.RoundToNearestEven(bits & 0x7FFFFFFFu, f.MantissaBits, f.Bias);
        if (code > f.MaxCode) return saturate ? (byte)(sign | f.MaxCode) : Overflow(f, sign);
        // FNUZ formats have a single zero (0x80 is their NaN), so anything that rounds to zero is +0.
        if (code == 0 && f.Fnuz) return 0;
        return (byte)(sign | code);
    }

    /// <summary>Converts the 8-bit float <paramref name="bits"/> of <paramref name="format"/> to float32 (exact).</summary>
    public static float Decode(byte bits, DataType format)
    {
        if (format == DataType.Float8E8M0) return DecodeE8M0(bits);
        var f = Describe(format);

        bool negative = (bits & 0x80) != 0;
        int magnitude = bits & 0x7F;
        if (f.Fnuz)
        {
            if (bits == 0x80) return MiniFloat.NegativeNaN;
        }
        else if (f.HasInfinity)
        {
            // E5M2: exponent field all ones is ∞ (mantissa 0) or NaN.
            if (magnitude == 0x7C) return negative ? float.NegativeInfinity : float.PositiveInfinity;
            if (magnitude > 0x7C) return negative ? MiniFloat.NegativeNaN : MiniFloat.PositiveNaN;
        }
        else if (magnitude == 0x7F)
        {
            return negative ? MiniFloat.NegativeNaN : MiniFloat.PositiveNaN;
        }

        float value = MiniFloat.DecodeMagnitude(magnitude, f.MantissaBits, f.Bias);
        return negative ? -value : value;
    }

    /// <summary>
    /// Converts <paramref name="value"/> to <c>FLOAT8E8M0</c> (a power of two 2^(code−127), codes 0..254; 0xFF = NaN)
    /// with ONNX Cast's <c>round_mode</c> and <c>saturate</c>.
    /// </summary>
    /// <remarks>
    /// NaN → 0xFF. +∞, and results above 2^127: 0xFE (2^127) with <paramref name="saturate"/>, else NaN. Zero and
    /// results below 2^−127: 0x00 (2^−127) with <paramref name="saturate"/>, else NaN (Cast's table: "0 → 0" for
    /// saturate+up, "x &lt; E8M0_MIN → NaN" for non-saturate). ONNX leaves negative inputs unspecified; like ONNX
    /// Runtime we treat them as below the range (0x00 with saturate, else NaN). Float32 subnormal inputs are rounded
    /// by their exact value.
    /// </remarks>
    public static byte EncodeE8M0(float value, E8M0Rounding mode = E8M0Rounding.Up, bool saturate = true)
    {
        const byte nan = 0xFF, max = 0xFE, min = 0x00;
        if (float.IsNaN(value)) return nan;
        if (float.IsPositiveInfinity(value)) return saturate ? max : nan;
        if (value <= 0) return saturate ? min : nan;

        uint bits = BitConverter.SingleToUInt32Bits(value);
        int biasedExponent = (int)(bits >> 23);
        uint mantissa = bits & 0x7FFFFFu;
        int log2;
        uint fraction; // the 23 bits after the leading one
        if (biasedExponent != 0)
        {
            log2 = biasedExponent - 127;
            fraction = mantissa;
        }
        else
        {
            int leading = 31 - BitOperations.LeadingZeroCount(mantissa);
            log2 = leading - 149;
            fraction = (mantissa << (23 - leading)) & 0x7FFFFFu;
        }

        int exponent = log2 + mode switch
        {
            E8M0Rounding.Down => 0,
            E8M0Rounding.Up => fraction != 0 ? 1 : 0,
            E8M0Rounding.Nearest => fraction >= 0x400000u ? 1 : 0, // x ≥ 1.5·2^log2
            _ => throw new ArgumentOutOfRangeException(nameof(mode), mode, "Unknown E8M0 rounding mode."),
        };

        if (exponent > 127) return saturate ? max : nan;
        if (exponent < -127) return saturate ? min : nan;
        return (byte)(exponent + 127);
    }

    private static float DecodeE8M0(byte bits) => bits switch
    {
        0xFF => MiniFloat.PositiveNaN,
        0 => BitConverter.UInt32BitsToSingle(0x00400000u), // 2^-127 is a float32 subnormal
        _ => BitConverter.UInt32BitsToSingle((uint)bits << 23),
    };

    private static byte Overflow(Format f, int sign) =>
        f.Fnuz ? (byte)0x80 : f.HasInfinity ? (byte)(sign | 0x7C) : (byte)(sign | 0x7F);
}
