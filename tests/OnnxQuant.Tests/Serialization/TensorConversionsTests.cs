using OnnxQuant.Ir;

namespace OnnxQuant.Tests.Serialization;

/// <summary>
/// <see cref="TensorConversions"/> for every numeric element type: exact round trips of representable values, ONNX's
/// rounding (to nearest, ties to even), saturation of integers (and of float8 when asked), and NaN to 0 for integers.
/// Expected values are worked out by hand from the formats, not taken from our output.
/// </summary>
public class TensorConversionsTests
{
    private static IEnumerable<DataType> NumericTypeList => Enum.GetValues<DataType>()
        .Where(t => t is not (DataType.Undefined or DataType.String or DataType.Complex64 or DataType.Complex128));

    public static TheoryData<DataType> NumericTypes() => new(NumericTypeList);

    public static TheoryData<DataType> IntegerTypes() => new(NumericTypeList.Where(t => t.IsInteger()));

    /// <summary>Without saturation, so that E5M2's ±∞ stay ∞ (saturating Cast maps them to ±57344).</summary>
    [Theory]
    [MemberData(nameof(NumericTypes))]
    public void FromDoubles_OfRepresentableValues_GivesTheirExactBitPatterns(DataType type)
    {
        var (values, bytes) = RepresentableValues(type);

        var tensor = TensorConversions.FromDoubles(type, values, [values.Length], saturate: false);

        Assert.Equal(bytes, tensor.RawData.ToArray());
    }

    [Theory]
    [MemberData(nameof(NumericTypes))]
    public void CastToDoubleAndBack_GivesTheSameBytes(DataType type)
    {
        var (values, bytes) = RepresentableValues(type);
        var tensor = Tensor.FromRaw(type, [values.Length], bytes);

        var back = tensor.CastTo(DataType.Double).CastTo(type, saturate: false);

        Assert.Equal(bytes, back.RawData.ToArray());
        Assert.Equal(values, tensor.CastTo(DataType.Double).AsSpan<double>().ToArray());
    }

    [Fact]
    public void CastTo_TheSameType_ReturnsTheSameTensor()
    {
        var tensor = Tensor.FromFloats([1f, 2f], 2);
        Assert.Same(tensor, tensor.CastTo(DataType.Float));
    }

    [Fact]
    public void CastTo_FromFloat_RoundsSaturatesAndZeroesNaN()
    {
        var floats = Tensor.FromFloats([0.5f, 1.5f, 2.5f, -2.5f, 300f, -300f, float.NaN, 17.25f], 8);
        Assert.Equal([0.0, 2, 2, -2, 127, -128, 0, 17], floats.CastTo(DataType.Int8).ToDoubleArray());
        Assert.Equal([0.0, 2, 2, 0, 255, 0, 0, 17], floats.CastTo(DataType.UInt8).ToDoubleArray());
        Assert.Equal([0.0, 2, 2, -2, 7, -8, 0, 7], floats.CastTo(DataType.Int4).ToDoubleArray());
        Assert.Equal([0.0, 2, 2, 0, 300, 0, 0, 17], floats.CastTo(DataType.UInt16).ToDoubleArray());
        // 300 and 17.25 need more than E4M3FN's 3 mantissa bits: 288 and 18 are the nearest values, 448 the maximum.
        Assert.Equal([0.5, 1.5, 2.5, -2.5, 288, -288, double.NaN, 18], floats.CastTo(DataType.Float8E4M3FN).ToDoubleArray());
        Assert.Equal([0.5, 1.5, 2.5, -2.5, 300, -300, double.NaN, 17.25], floats.CastTo(DataType.Float16).ToDoubleArray());
    }

    /// <summary>Halfway cases go to the neighbour with an even last digit; the rest to the nearest.</summary>
    [Theory]
    [InlineData(DataType.Int8, 0.5, 0.0)]
    [InlineData(DataType.Int8, 1.5, 2.0)]
    [InlineData(DataType.Int8, 2.5, 2.0)]
    [InlineData(DataType.Int8, -1.5, -2.0)]
    [InlineData(DataType.Int8, -2.5, -2.0)]
    [InlineData(DataType.Int8, 2.5000001, 3.0)]
    [InlineData(DataType.UInt8, 254.5, 254.0)]
    [InlineData(DataType.UInt4, 14.5, 14.0)]
    [InlineData(DataType.UInt4, 13.5, 14.0)]
    [InlineData(DataType.Int4, -7.5, -8.0)]
    [InlineData(DataType.Int2, 0.5, 0.0)]
    [InlineData(DataType.UInt2, 2.5, 2.0)]
    [InlineData(DataType.Int16, -32766.5, -32766.0)]
    [InlineData(DataType.Int32, 2147483645.5, 2147483646.0)]
    [InlineData(DataType.UInt32, 4294967292.5, 4294967292.0)]
    [InlineData(DataType.Int64, 4503599627370495.5, 4503599627370496.0)]     // 2^52 − 0.5: even is 2^52
    [InlineData(DataType.Float, 1.000000059604644775390625, 1.0)]           // 1 + 2^-24
    [InlineData(DataType.Float, 1.000000178813934326171875, 1.0000002384185791015625)]  // 1 + 3·2^-24 → 1 + 2^-22
    [InlineData(DataType.Float16, 1.00048828125, 1.0)]                       // 1 + 2^-11
    [InlineData(DataType.Float16, 1.00146484375, 1.001953125)]               // 1 + 3·2^-11 → 1 + 2^-9
    [InlineData(DataType.Float16, 65519.0, 65504.0)]                             // below the overflow threshold
    [InlineData(DataType.Float16, 2.98023223876953125e-8, 0.0)]              // 2^-25, half the smallest subnormal
    [InlineData(DataType.Float16, 8.94069671630859375e-8, 1.1920928955078125e-7)] // 3·2^-25 → 2^-23
    [InlineData(DataType.BFloat16, 1.00390625, 1.0)]                         // 1 + 2^-8
    [InlineData(DataType.BFloat16, 1.01171875, 1.015625)]                    // 1 + 3·2^-8 → 1 + 2^-6
    [InlineData(DataType.Float8E4M3FN, 1.0625, 1.0)]
    [InlineData(DataType.Float8E4M3FN, 1.1875, 1.25)]
    [InlineData(DataType.Float8E4M3FN, 0.0009765625, 0.0)]                   // 2^-10, half the smallest subnormal 2^-9
    [InlineData(DataType.Float8E4M3FNUZ, 1.0625, 1.0)]
    [InlineData(DataType.Float8E5M2, 1.125, 1.0)]
    [InlineData(DataType.Float8E5M2, 1.375, 1.5)]
    [InlineData(DataType.Float8E5M2FNUZ, -1.375, -1.5)]
    [InlineData(DataType.Float4E2M1, 2.5, 2.0)]
    [InlineData(DataType.Float4E2M1, 5.0, 4.0)]
    [InlineData(DataType.Float4E2M1, 0.75, 1.0)]
    [InlineData(DataType.Float4E2M1, 0.25, 0.0)]
    public void FromDoubles_RoundsHalfToEven(DataType type, double value, double expected) =>
        AssertSingle(expected, TensorConversions.FromDoubles(type, [value], [1]));

    /// <summary>Integers clamp to their range (ONNX QuantizeLinear / saturating Cast); ±∞ clamp too.</summary>
    [Theory]
    [InlineData(DataType.Int8, 1000.0, 127.0)]
    [InlineData(DataType.Int8, -1000.0, -128.0)]
    [InlineData(DataType.Int8, double.PositiveInfinity, 127.0)]
    [InlineData(DataType.Int8, double.NegativeInfinity, -128.0)]
    [InlineData(DataType.UInt8, 255.7, 255.0)]
    [InlineData(DataType.UInt8, -5.0, 0.0)]
    [InlineData(DataType.Int16, 40000.0, 32767.0)]
    [InlineData(DataType.Int16, -40000.0, -32768.0)]
    [InlineData(DataType.UInt16, 70000.0, 65535.0)]
    [InlineData(DataType.UInt16, -1.0, 0.0)]
    [InlineData(DataType.Int32, 1e10, 2147483647.0)]
    [InlineData(DataType.Int32, -1e10, -2147483648.0)]
    [InlineData(DataType.UInt32, 1e10, 4294967295.0)]
    [InlineData(DataType.UInt32, -0.7, 0.0)]
    [InlineData(DataType.Int4, 100.0, 7.0)]
    [InlineData(DataType.Int4, -100.0, -8.0)]
    [InlineData(DataType.UInt4, 16.0, 15.0)]
    [InlineData(DataType.UInt4, -3.0, 0.0)]
    [InlineData(DataType.Int2, 5.0, 1.0)]
    [InlineData(DataType.Int2, -5.0, -2.0)]
    [InlineData(DataType.UInt2, 9.0, 3.0)]
    [InlineData(DataType.UInt2, double.NegativeInfinity, 0.0)]
    public void FromDoubles_SaturatesIntegers(DataType type, double value, double expected) =>
        AssertSingle(expected, TensorConversions.FromDoubles(type, [value], [1]));

    [Fact]
    public void FromDoubles_Saturates64BitIntegers_AtTheirExactLimits()
    {
        double[] values = [1e19, -1e19, double.PositiveInfinity, double.NegativeInfinity, 9.2233720368547758e18];
        Assert.Equal([long.MaxValue, long.MinValue, long.MaxValue, long.MinValue, long.MaxValue],
            TensorConversions.FromDoubles(DataType.Int64, values, [values.Length]).AsSpan<long>().ToArray());

        double[] unsigned = [1e20, -1, double.PositiveInfinity, 18446744073709551615.0, 0.4];
        Assert.Equal([ulong.MaxValue, 0UL, ulong.MaxValue, ulong.MaxValue, 0UL],
            TensorConversions.FromDoubles(DataType.UInt64, unsigned, [unsigned.Length]).AsSpan<ulong>().ToArray());
    }

    [Theory]
    [MemberData(nameof(IntegerTypes))]
    public void FromDoubles_TurnsNaNIntoZero_ForIntegers(DataType type)
    {
        var tensor = TensorConversions.FromDoubles(type, [double.NaN, 1, double.NaN], [3]);
        Assert.Equal([0.0, 1.0, 0.0], tensor.ToDoubleArray());
    }

    /// <summary>float8 saturation (ONNX Cast, saturate=1 default): finite maximum; without it: ∞ for E5M2, NaN otherwise.</summary>
    [Theory]
    [InlineData(DataType.Float8E4M3FN, true, 448.0)]
    [InlineData(DataType.Float8E4M3FN, false, double.NaN)]
    [InlineData(DataType.Float8E4M3FNUZ, true, 240.0)]
    [InlineData(DataType.Float8E4M3FNUZ, false, double.NaN)]
    [InlineData(DataType.Float8E5M2, true, 57344.0)]
    [InlineData(DataType.Float8E5M2, false, double.PositiveInfinity)]
    [InlineData(DataType.Float8E5M2FNUZ, true, 57344.0)]
    [InlineData(DataType.Float8E5M2FNUZ, false, double.NaN)]
    public void FromDoubles_SaturatesFloat8_OnlyWhenAsked(DataType type, bool saturate, double expected) =>
        AssertSingle(expected, TensorConversions.FromDoubles(type, [1e6], [1], saturate));

    [Fact]
    public void FromDoubles_Bool_IsTrueForEveryNonZero()
    {
        var tensor = TensorConversions.FromDoubles(DataType.Bool, [0, -0.0, 1, -3.5, 1e-30, double.NaN], [6]);
        Assert.Equal([0, 0, 1, 1, 1, 1], tensor.RawData.ToArray());
    }

    /// <summary>
    /// The sample's values (<see cref="ElementTypeSample"/>: every code of the small floats, ±0, ±∞, subnormals,
    /// integer limits) with NaNs left out, and their bytes in raw layout.
    /// </summary>
    private static (double[] Values, byte[] Bytes) RepresentableValues(DataType type)
    {
        var sample = ElementTypeSample.For(type);
        int[] keep = Enumerable.Range(0, sample.Values!.Length).Where(i => !double.IsNaN(sample.Values[i])).ToArray();
        double[] values = keep.Select(i => sample.Values[i]).ToArray();
        int bits = type.BitWidth();
        if (bits < 8)
        {
            Assert.Equal(sample.Values.Length, keep.Length);   // sub-byte samples hold no NaN: bytes as they are
            return (values, sample.Raw!);
        }
        int width = bits / 8;
        return (values, keep.SelectMany(i => sample.Raw!.Skip(i * width).Take(width)).ToArray());
    }

    private static void AssertSingle(double expected, Tensor tensor)
    {
        double actual = tensor.ToDoubleArray().Single();
        if (double.IsNaN(expected)) Assert.True(double.IsNaN(actual), $"expected NaN, got {actual:R}");
        else Assert.Equal(BitConverter.DoubleToInt64Bits(expected), BitConverter.DoubleToInt64Bits(actual));
    }
}
