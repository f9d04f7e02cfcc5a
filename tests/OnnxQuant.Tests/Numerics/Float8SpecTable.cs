using OnnxQuant.Ir;

namespace OnnxQuant.Tests.Numerics;

/// <summary>
/// The float8 formats written down straight from ONNX docs/technical/float8.md (bias, specials, and the value
/// formulas evaluated with <see cref="Math.Pow"/> in double), so tests compare the implementation against the spec
/// rather than against itself. Also a brute-force encoder: the nearest entry of the table, ties to the even code.
/// </summary>
internal sealed class Float8SpecTable
{
    public DataType Format { get; }
    public int ExponentBits { get; }
    public int MantissaBits { get; }
    public int Bias { get; }
    public bool Fnuz { get; }
    public bool HasInfinity { get; }

    private Float8SpecTable(DataType format, int exponentBits, int bias, bool fnuz, bool hasInfinity)
    {
        Format = format;
        ExponentBits = exponentBits;
        MantissaBits = 7 - exponentBits;
        Bias = bias;
        Fnuz = fnuz;
        HasInfinity = hasInfinity;
    }

    public static readonly Float8SpecTable E4M3FN = new(DataType.Float8E4M3FN, 4, 7, fnuz: false, hasInfinity: false);
    public static readonly Float8SpecTable E4M3FNUZ = new(DataType.Float8E4M3FNUZ, 4, 8, fnuz: true, hasInfinity: false);
    public static readonly Float8SpecTable E5M2 = new(DataType.Float8E5M2, 5, 15, fnuz: false, hasInfinity: true);
    public static readonly Float8SpecTable E5M2FNUZ = new(DataType.Float8E5M2FNUZ, 5, 16, fnuz: true, hasInfinity: false);

    public static Float8SpecTable For(DataType format) => format switch
    {
        DataType.Float8E4M3FN => E4M3FN,
        DataType.Float8E4M3FNUZ => E4M3FNUZ,
        DataType.Float8E5M2 => E5M2,
        DataType.Float8E5M2FNUZ => E5M2FNUZ,
        _ => throw new ArgumentOutOfRangeException(nameof(format)),
    };

    public bool IsNaN(int code)
    {
        int exponentField = (code & 0x7F) >> MantissaBits;
        int mantissa = code & ((1 << MantissaBits) - 1);
        int allOnes = (1 << ExponentBits) - 1;
        if (Fnuz) return code == 0x80;
        if (HasInfinity) return exponentField == allOnes && mantissa != 0;
        return (code & 0x7F) == 0x7F;
    }

    public bool IsInfinity(int code) =>
        HasInfinity && (code & 0x7F) >> MantissaBits == (1 << ExponentBits) - 1 && (code & ((1 << MantissaBits) - 1)) == 0;

    /// <summary>The value of a non-NaN code by the spec's formula: (−1)^S·2^(E−bias)·(1+m/2^M), or (−1)^S·2^(1−bias)·m/2^M.</summary>
    public double Value(int code)
    {
        if (IsNaN(code)) return double.NaN;
        double sign = (code & 0x80) != 0 ? -1 : 1;
        if (IsInfinity(code)) return sign * double.PositiveInfinity;
        int exponentField = (code & 0x7F) >> MantissaBits;
        int mantissa = code & ((1 << MantissaBits) - 1);
        double fraction = mantissa / Math.Pow(2, MantissaBits);
        return exponentField == 0
            ? sign * Math.Pow(2, 1 - Bias) * fraction
            : sign * Math.Pow(2, exponentField - Bias) * (1 + fraction);
    }

    /// <summary>The largest finite positive code.</summary>
    public int MaxCode => Enumerable.Range(0, 128).Where(c => double.IsFinite(Value(c))).Max();

    public double MaxValue => Value(MaxCode);

    /// <summary>
    /// The spec's cast of a float, found by search: the nearest of all finite non-negative codes plus one virtual code
    /// just past the maximum (spaced like the top binade), ties to the even code; landing on the virtual code is
    /// "[x] &gt; FLT_MAX".
    /// </summary>
    public byte BruteForceEncode(float x, bool saturate)
    {
        bool negative = float.IsNegative(x);
        int sign = negative ? 0x80 : 0;
        if (float.IsNaN(x)) return Fnuz ? (byte)0x80 : (byte)(sign | 0x7F);

        double magnitude = Math.Abs((double)x);
        int max = MaxCode;
        double virtualNext = MaxValue + (MaxValue - Value(max - 1));
        int best = -1;
        double bestDistance = double.PositiveInfinity;
        for (int code = 0; code <= max + 1; code++)
        {
            double candidate = code <= max ? Value(code) : virtualNext;
            // At or past the virtual code it is the nearest; distances to huge x would not be exact in double anyway.
            double distance = magnitude >= virtualNext ? (code <= max ? double.PositiveInfinity : 0) : Math.Abs(magnitude - candidate);
            if (distance < bestDistance || (distance == bestDistance && (code & 1) == 0))
            {
                best = code;
                bestDistance = distance;
            }
        }

        if (best > max)
        {
            if (saturate) return (byte)(sign | max);
            if (Fnuz) return 0x80;
            return HasInfinity ? (byte)(sign | 0x7C) : (byte)(sign | 0x7F);
        }

        if (best == 0 && Fnuz) return 0;
        return (byte)(sign | best);
    }
}
