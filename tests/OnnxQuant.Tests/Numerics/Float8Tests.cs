using OnnxQuant.Ir;
using OnnxQuant.Ir.Numerics;
using Xunit;

namespace OnnxQuant.Tests.Numerics;

public class Float8Tests
{
    public static TheoryData<DataType> Formats => new()
    {
        DataType.Float8E4M3FN, DataType.Float8E4M3FNUZ, DataType.Float8E5M2, DataType.Float8E5M2FNUZ,
    };

    public static TheoryData<DataType, bool> FormatsAndSaturation
    {
        get
        {
            var data = new TheoryData<DataType, bool>();
            foreach (var format in new[] { DataType.Float8E4M3FN, DataType.Float8E4M3FNUZ, DataType.Float8E5M2, DataType.Float8E5M2FNUZ })
            {
                data.Add(format, true);
                data.Add(format, false);
            }

            return data;
        }
    }

    // Code tables from ONNX docs/technical/float8.md (max, min subnormal, specials).
    [Theory]
    [InlineData(DataType.Float8E4M3FN, 0x7E, 448.0)]
    [InlineData(DataType.Float8E4M3FN, 0xFE, -448.0)]
    [InlineData(DataType.Float8E4M3FN, 0x01, 0.001953125)] // 2^-9
    [InlineData(DataType.Float8E4M3FN, 0x08, 0.015625)] // 2^-6, min normal
    [InlineData(DataType.Float8E4M3FN, 0x38, 1.0)]
    [InlineData(DataType.Float8E4M3FNUZ, 0x7F, 240.0)]
    [InlineData(DataType.Float8E4M3FNUZ, 0xFF, -240.0)]
    [InlineData(DataType.Float8E4M3FNUZ, 0x01, 0.0009765625)] // 2^-10
    [InlineData(DataType.Float8E4M3FNUZ, 0x40, 1.0)]
    [InlineData(DataType.Float8E5M2, 0x7B, 57344.0)]
    [InlineData(DataType.Float8E5M2, 0x01, 1.52587890625e-05)] // 2^-16
    [InlineData(DataType.Float8E5M2, 0x3C, 1.0)]
    [InlineData(DataType.Float8E5M2FNUZ, 0x7F, 57344.0)]
    [InlineData(DataType.Float8E5M2FNUZ, 0x01, 7.62939453125e-06)] // 2^-17
    [InlineData(DataType.Float8E5M2FNUZ, 0x40, 1.0)]
    public void Decode_MatchesSpecCodeTable(DataType format, int code, double expected)
    {
        Assert.Equal((float)expected, Float8.Decode((byte)code, format));
        Assert.Equal((byte)code, Float8.Encode((float)expected, format));
    }

    [Theory]
    [MemberData(nameof(Formats))]
    public void Decode_AgreesWithSpecFormula_ForAll256Codes(DataType format)
    {
        var spec = Float8SpecTable.For(format);
        for (int code = 0; code < 256; code++)
        {
            double expected = spec.Value(code);
            float actual = Float8.Decode((byte)code, format);
            if (double.IsNaN(expected))
            {
                Assert.True(float.IsNaN(actual), $"code 0x{code:X2} should decode to NaN, got {actual}");
            }
            else
            {
                Assert.True((float)expected == actual, $"code 0x{code:X2}: expected {expected}, got {actual}");
                Assert.Equal(double.IsNegative(expected), float.IsNegative(actual));
            }
        }
    }

    [Theory]
    [MemberData(nameof(FormatsAndSaturation))]
    public void Encode_RoundTripsEveryFiniteCode(DataType format, bool saturate)
    {
        for (int code = 0; code < 256; code++)
        {
            float value = Float8.Decode((byte)code, format);
            if (!float.IsFinite(value)) continue;
            Assert.Equal((byte)code, Float8.Encode(value, format, saturate));
        }
    }

    [Theory]
    [MemberData(nameof(Formats))]
    public void Encode_MapsEveryNaNCodeBackToANaNCode(DataType format)
    {
        var spec = Float8SpecTable.For(format);
        int nanCodes = 0;
        for (int code = 0; code < 256; code++)
        {
            if (!spec.IsNaN(code)) continue;
            nanCodes++;
            byte again = Float8.Encode(Float8.Decode((byte)code, format), format);
            Assert.True(spec.IsNaN(again), $"NaN code 0x{code:X2} re-encoded to non-NaN 0x{again:X2}");
        }

        Assert.True(nanCodes > 0);
    }

    [Theory]
    [MemberData(nameof(FormatsAndSaturation))]
    public void Encode_RoundsMidpointsBetweenAdjacentCodesToTheEvenCode(DataType format, bool saturate)
    {
        var spec = Float8SpecTable.For(format);
        for (int code = 0; code < spec.MaxCode; code++)
        {
            double low = spec.Value(code), high = spec.Value(code + 1);
            float midpoint = (float)((low + high) / 2); // exact: a float8 midpoint needs at most 5 significant bits
            Assert.Equal((low + high) / 2, midpoint);
            int even = (code & 1) == 0 ? code : code + 1;
            int expectedLow = code == 0 && spec.Fnuz ? 0 : code;

            Assert.Equal((byte)even, Float8.Encode(midpoint, format, saturate));
            Assert.Equal((byte)expectedLow, Float8.Encode(MathF.BitDecrement(midpoint), format, saturate));
            Assert.Equal((byte)(code + 1), Float8.Encode(MathF.BitIncrement(midpoint), format, saturate));

            // Mirror image for negative values; FNUZ has no -0.
            byte negativeEven = even == 0 && spec.Fnuz ? (byte)0 : (byte)(0x80 | even);
            Assert.Equal(negativeEven, Float8.Encode(-midpoint, format, saturate));
        }
    }

    [Theory]
    [MemberData(nameof(FormatsAndSaturation))]
    public void Encode_AgreesWithBruteForceNearestSearch_OnRandomFloats(DataType format, bool saturate)
    {
        var spec = Float8SpecTable.For(format);
        var random = new Random(20240917 + (int)format);
        double log2Max = Math.Log2(spec.MaxValue);
        for (int i = 0; i < 20_000; i++)
        {
            // Log-uniform magnitudes from far below the smallest subnormal to well past the maximum.
            float magnitude = (float)Math.Pow(2, random.NextDouble() * (log2Max + 30) - 30 - (spec.Bias + spec.MantissaBits));
            float x = random.Next(2) == 0 ? magnitude : -magnitude;
            Assert.Equal(spec.BruteForceEncode(x, saturate), Float8.Encode(x, format, saturate));
        }
    }

    [Theory]
    [MemberData(nameof(FormatsAndSaturation))]
    public void Encode_AgreesWithBruteForceNearestSearch_OnRandomBitPatterns(DataType format, bool saturate)
    {
        var spec = Float8SpecTable.For(format);
        var random = new Random(77 + (int)format);
        for (int i = 0; i < 20_000; i++)
        {
            float x = BitConverter.UInt32BitsToSingle((uint)random.NextInt64(0, 1L << 32));
            byte actual = Float8.Encode(x, format, saturate);
            if (float.IsNaN(x))
                Assert.True(spec.IsNaN(actual));
            else
                Assert.Equal(spec.BruteForceEncode(x, saturate), actual);
        }
    }

    // Cast (opset 24) saturate table: Inf and [x] > FLT_MAX go to ±FLT_MAX for all four formats.
    [Theory]
    [InlineData(DataType.Float8E4M3FN, 0x7E)]
    [InlineData(DataType.Float8E4M3FNUZ, 0x7F)]
    [InlineData(DataType.Float8E5M2, 0x7B)]
    [InlineData(DataType.Float8E5M2FNUZ, 0x7F)]
    public void Encode_Saturating_ClampsInfinityAndOverflowToMaxFinite(DataType format, int maxCode)
    {
        foreach (float x in new[] { float.PositiveInfinity, float.MaxValue, 1e6f, 65536f })
        {
            Assert.Equal((byte)maxCode, Float8.Encode(x, format, saturate: true));
            Assert.Equal((byte)(0x80 | maxCode), Float8.Encode(-x, format, saturate: true));
        }
    }

    // Cast (opset 24) non-saturate table.
    [Theory]
    [InlineData(DataType.Float8E4M3FN, 0x7F, 0xFF)]
    [InlineData(DataType.Float8E4M3FNUZ, 0x80, 0x80)]
    [InlineData(DataType.Float8E5M2, 0x7C, 0xFC)]
    [InlineData(DataType.Float8E5M2FNUZ, 0x80, 0x80)]
    public void Encode_NonSaturating_SendsInfinityAndOverflowToNaNOrInfinity(DataType format, int positive, int negative)
    {
        foreach (float x in new[] { float.PositiveInfinity, float.MaxValue, 1e6f, 65536f })
        {
            Assert.Equal((byte)positive, Float8.Encode(x, format, saturate: false));
            Assert.Equal((byte)negative, Float8.Encode(-x, format, saturate: false));
        }
    }

    // The overflow test applies to the rounded value: at the midpoint between max and the next (missing) value,
    // ties-to-even decides; just below it rounds to max, just above it overflows.
    [Theory]
    [InlineData(DataType.Float8E4M3FN, 464f, 0x7E, 0x7E, 0x7F)] // 448 (0x7E) is even, 480 would be odd
    [InlineData(DataType.Float8E4M3FNUZ, 248f, 0x80, 0x7F, 0x80)] // 240 (0x7F) is odd, 256 would be even
    [InlineData(DataType.Float8E5M2, 61440f, 0x7C, 0x7B, 0x7C)] // 57344 (0x7B) is odd, 65536 would be even
    [InlineData(DataType.Float8E5M2FNUZ, 61440f, 0x80, 0x7F, 0x80)]
    public void Encode_NonSaturating_AppliesOverflowAfterRounding(DataType format, float tie, int atTie, int below, int above)
    {
        Assert.Equal((byte)atTie, Float8.Encode(tie, format, saturate: false));
        Assert.Equal((byte)below, Float8.Encode(MathF.BitDecrement(tie), format, saturate: false));
        Assert.Equal((byte)above, Float8.Encode(MathF.BitIncrement(tie), format, saturate: false));
    }

    [Fact]
    public void E4M3FN_RoundsTiesToEven()
    {
        // 1.0625 lies halfway between 1 (0x38) and 1.125 (0x39): even is 0x38. 1.1875 is between 0x39 and 0x3A: 0x3A.
        Assert.Equal(0x38, Float8.Encode(1.0625f, DataType.Float8E4M3FN));
        Assert.Equal(0x3A, Float8.Encode(1.1875f, DataType.Float8E4M3FN));
        // Subnormal tie: 1.5 * 2^-9 lies between 0x01 and 0x02.
        Assert.Equal(0x02, Float8.Encode(0.0029296875f, DataType.Float8E4M3FN));
        // Half the smallest subnormal rounds to (signed) zero.
        Assert.Equal(0x00, Float8.Encode(0.0009765625f, DataType.Float8E4M3FN));
        Assert.Equal(0x80, Float8.Encode(-0.0009765625f, DataType.Float8E4M3FN));
    }

    // Expected values from ONNX Runtime's float8 unit test (Float8_Tests.CastE4M3FN).
    [Theory]
    [InlineData(0.00439453125f, 0.00390625f)]
    [InlineData(0.005859375f, 0.005859375f)]
    [InlineData(0.005759375f, 0.005859375f)]
    [InlineData(0.0046875f, 0.00390625f)]
    [InlineData(0.001953125f, 0.001953125f)]
    [InlineData(0.0029296875f, 0.00390625f)]
    [InlineData(0.002053125f, 0.001953125f)]
    [InlineData(0.00234375f, 0.001953125f)]
    [InlineData(0.0087890625f, 0.0078125f)]
    [InlineData(0.001171875f, 0.001953125f)]
    [InlineData(1.8131605f, 1.875f)]
    public void E4M3FN_MatchesOnnxRuntimeReferenceCases(float input, float expected)
    {
        Assert.Equal(expected, Float8.Decode(Float8.Encode(input, DataType.Float8E4M3FN), DataType.Float8E4M3FN));
    }

    // ONNX test_make_float8e4m3fn_tensor: [0, 0.5, 1, 50000, 10.1] -> [0, 0.5, 1, 448, 10].
    [Fact]
    public void E4M3FN_MatchesOnnxMakeTensorExample()
    {
        float[] input = [0f, 0.5f, 1f, 50000f, 10.1f];
        float[] expected = [0f, 0.5f, 1f, 448f, 10f];
        float[] actual = input.Select(x => Float8.Decode(Float8.Encode(x, DataType.Float8E4M3FN), DataType.Float8E4M3FN)).ToArray();
        Assert.Equal(expected, actual);
    }

    [Theory]
    [InlineData(DataType.Float8E4M3FN, 0x80)]
    [InlineData(DataType.Float8E5M2, 0x80)]
    [InlineData(DataType.Float8E4M3FNUZ, 0x00)]
    [InlineData(DataType.Float8E5M2FNUZ, 0x00)]
    public void Encode_NegativeZero_IsSignedOnlyWhereTheFormatHasNegativeZero(DataType format, int expected)
    {
        Assert.Equal((byte)expected, Float8.Encode(-0f, format));
        Assert.Equal((byte)0, Float8.Encode(0f, format));
        // Negative values too small to represent round to zero the same way.
        Assert.Equal((byte)expected, Float8.Encode(-1e-30f, format));
    }

    [Theory]
    [InlineData(DataType.Float8E4M3FN, 0x7F, 0xFF)]
    [InlineData(DataType.Float8E5M2, 0x7F, 0xFF)]
    [InlineData(DataType.Float8E4M3FNUZ, 0x80, 0x80)]
    [InlineData(DataType.Float8E5M2FNUZ, 0x80, 0x80)]
    public void Encode_NaN_GivesTheFormatsNaNCode_KeepingSignWhereSigned(DataType format, int positive, int negative)
    {
        float positiveNaN = BitConverter.UInt32BitsToSingle(0x7FC00000u);
        float negativeNaN = BitConverter.UInt32BitsToSingle(0xFFC00000u);
        float signallingNaN = BitConverter.UInt32BitsToSingle(0x7F800001u);
        foreach (bool saturate in new[] { true, false })
        {
            Assert.Equal((byte)positive, Float8.Encode(positiveNaN, format, saturate));
            Assert.Equal((byte)negative, Float8.Encode(negativeNaN, format, saturate));
            Assert.Equal((byte)positive, Float8.Encode(signallingNaN, format, saturate));
        }
    }

    [Fact]
    public void E5M2_DecodesInfinities()
    {
        Assert.Equal(float.PositiveInfinity, Float8.Decode(0x7C, DataType.Float8E5M2));
        Assert.Equal(float.NegativeInfinity, Float8.Decode(0xFC, DataType.Float8E5M2));
        Assert.Equal(0x7C, Float8.Encode(float.PositiveInfinity, DataType.Float8E5M2, saturate: false));
    }

    [Fact]
    public void Fnuz_FormatsHaveOneNaNAndNoNegativeZero()
    {
        Assert.True(float.IsNaN(Float8.Decode(0x80, DataType.Float8E4M3FNUZ)));
        Assert.True(float.IsNaN(Float8.Decode(0x80, DataType.Float8E5M2FNUZ)));
        Assert.Equal(-240f, Float8.Decode(0xFF, DataType.Float8E4M3FNUZ));
        Assert.Equal(-57344f, Float8.Decode(0xFF, DataType.Float8E5M2FNUZ));
    }

    [Theory]
    [InlineData(DataType.Float)]
    [InlineData(DataType.Float4E2M1)]
    [InlineData(DataType.BFloat16)]
    public void Encode_RejectsNonFloat8Types(DataType format)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Float8.Encode(1f, format));
        Assert.Throws<ArgumentOutOfRangeException>(() => Float8.Decode(0, format));
    }
}
