using System.Numerics;

namespace OnnxQuant.Ir.Numerics;

/// <summary>
/// Shared arithmetic for small IEEE-like binary formats (float8, float4): rounding a float32 magnitude to the nearest
/// representable value (ties to even) and evaluating a code. Formats differ only in mantissa width, exponent bias,
/// the largest finite code and what they do with specials, which the callers handle.
/// </summary>
internal static class MiniFloat
{
    /// <summary>
    /// Rounds the magnitude whose float32 bits are <paramref name="absBits"/> (sign cleared, finite) to the nearest
    /// value of a format with <paramref name="mantissaBits"/> stored mantissa bits and exponent bias
    /// <paramref name="bias"/>, ties to even, with an unbounded exponent range above. Returns the code of the result
    /// without its sign; a code above the format's largest finite code means the rounded value overflows, which is
    /// exactly the spec's "[x] > FLT_MAX" test.
    /// </summary>
    /// <remarks>
    /// The value is <c>sig · 2^exp</c> with an integer significand. The result is <c>n · 2^q</c> where the quantum
    /// <c>q</c> is fixed by the binade (or by the subnormal range), and <c>n = round(sig · 2^(exp − q))</c>. For
    /// <c>n</c> in <c>[2^M, 2^(M+1)]</c> the code is <c>((q − qmin) &lt;&lt; M) + n</c>, and for subnormals (q = qmin,
    /// n &lt; 2^M) it is <c>n</c>: one formula, and a carry out of the mantissa lands in the exponent by itself.
    /// </remarks>
    public static int RoundToNearestEven(uint absBits, int mantissaBits, int bias)
    {
        int biasedExponent = (int)(absBits >> 23);
        uint significand = absBits & 0x7FFFFFu;
        int exponent;
        if (biasedExponent == 0)
        {
            if (significand == 0) return 0;
            exponent = -149;
        }
        else
        {
            significand |= 0x800000u;
            exponent = biasedExponent - 150;
        }

        int log2 = 31 - BitOperations.LeadingZeroCount(significand) + exponent;
        int minNormalExponent = 1 - bias;
        int lowestQuantum = minNormalExponent - mantissaBits;
        int quantum = Math.Max(log2, minNormalExponent) - mantissaBits;
        int shift = quantum - exponent;

        ulong n;
        if (shift <= 0)
        {
            n = (ulong)significand << -shift;
        }
        else if (shift > 25)
        {
            // significand < 2^24 ≤ half a quantum: rounds to zero (never a tie).
            n = 0;
        }
        else
        {
            n = significand >> shift;
            uint remainder = significand & ((1u << shift) - 1);
            uint half = 1u << (shift - 1);
            if (remainder > half || (remainder == half && (n & 1) != 0)) n++;
        }

        return checked(((quantum - lowestQuantum) << mantissaBits) + (int)n);
    }

    /// <summary>The magnitude of the finite code <paramref name="magnitudeCode"/> (sign bit excluded).</summary>
    public static float DecodeMagnitude(int magnitudeCode, int mantissaBits, int bias)
    {
        int biasedExponent = magnitudeCode >> mantissaBits;
        int mantissa = magnitudeCode & ((1 << mantissaBits) - 1);
        // Both products are exact in float32: at most 6 significant bits, exponents well inside float's range.
        return biasedExponent == 0
            ? MathF.ScaleB(mantissa, 1 - bias - mantissaBits)
            : MathF.ScaleB((1 << mantissaBits) + mantissa, biasedExponent - bias - mantissaBits);
    }

    public static readonly float PositiveNaN = BitConverter.UInt32BitsToSingle(0x7FC00000u);
    public static readonly float NegativeNaN = BitConverter.UInt32BitsToSingle(0xFFC00000u);
}
