using OnnxQuant.Ir;
using OnnxQuant.Ir.Numerics;
using Xunit;

namespace OnnxQuant.Tests.Numerics;

public class Float8E8M0Tests
{
    private static byte Up(float x, bool saturate = true) => Float8.EncodeE8M0(x, E8M0Rounding.Up, saturate);
    private static byte Down(float x, bool saturate = true) => Float8.EncodeE8M0(x, E8M0Rounding.Down, saturate);
    private static byte Nearest(float x, bool saturate = true) => Float8.EncodeE8M0(x, E8M0Rounding.Nearest, saturate);

    [Fact]
    public void Decode_IsTwoToTheCodeMinus127()
    {
        for (int code = 0; code < 255; code++)
            Assert.Equal((float)Math.Pow(2, code - 127), Float8.Decode((byte)code, DataType.Float8E8M0));
        Assert.True(float.IsNaN(Float8.Decode(0xFF, DataType.Float8E8M0)));
    }

    [Fact]
    public void Encode_RoundTripsEveryFiniteCode_InEveryMode()
    {
        foreach (var mode in Enum.GetValues<E8M0Rounding>())
        {
            foreach (bool saturate in new[] { true, false })
            {
                for (int code = 0; code < 255; code++)
                {
                    float value = Float8.Decode((byte)code, DataType.Float8E8M0);
                    Assert.Equal((byte)code, Float8.EncodeE8M0(value, mode, saturate));
                }
            }
        }
    }

    [Theory]
    [InlineData(1.25f, 128, 127, 127)]
    [InlineData(1.5f, 128, 127, 128)] // midpoint: nearest ties round up
    [InlineData(1.4999999f, 128, 127, 127)]
    [InlineData(1.0000001f, 128, 127, 127)]
    [InlineData(1.9999999f, 128, 127, 128)]
    [InlineData(3.0f, 129, 128, 129)]
    [InlineData(0.75f, 127, 126, 127)]
    [InlineData(0.7f, 127, 126, 126)]
    public void Encode_RoundsUpDownOrNearestAsCastRoundModeSays(float x, int up, int down, int nearest)
    {
        Assert.Equal((byte)up, Up(x));
        Assert.Equal((byte)down, Down(x));
        Assert.Equal((byte)nearest, Nearest(x));
    }

    [Fact]
    public void Encode_DefaultModeIsUp()
    {
        Assert.Equal(Up(1.25f), Float8.EncodeE8M0(1.25f));
        Assert.Equal(Up(1.25f), Float8.Encode(1.25f, DataType.Float8E8M0));
    }

    // Cast (opset 24) E8M0 table: columns "saturate + up" and "non-saturate + nearest".
    [Fact]
    public void Encode_SpecialValues_FollowCastTable()
    {
        Assert.Equal(0x00, Up(0f, saturate: true));
        Assert.Equal(0xFF, Nearest(0f, saturate: false));
        Assert.Equal(0xFF, Up(float.NaN, saturate: true));
        Assert.Equal(0xFF, Nearest(float.NaN, saturate: false));
        Assert.Equal(0xFE, Up(float.PositiveInfinity, saturate: true));
        Assert.Equal(0xFF, Nearest(float.PositiveInfinity, saturate: false));
    }

    [Fact]
    public void Encode_AboveMax_SaturatesOrBecomesNaN()
    {
        float justAboveMax = MathF.BitIncrement(MathF.ScaleB(1f, 127)); // rounds up past 2^127
        Assert.Equal(0xFE, Up(justAboveMax, saturate: true));
        Assert.Equal(0xFF, Up(justAboveMax, saturate: false));
        Assert.Equal(0xFE, Down(float.MaxValue, saturate: false)); // 2^127 ≤ MaxValue: in range when rounding down
        Assert.Equal(0xFF, Nearest(float.MaxValue, saturate: false));
        Assert.Equal(0xFE, Nearest(float.MaxValue, saturate: true));
    }

    [Fact]
    public void Encode_BelowMin_SaturatesOrBecomesNaN()
    {
        float twoToMinus128 = MathF.ScaleB(1f, -128); // a float32 subnormal, half of E8M0_MIN
        Assert.Equal(0x00, Up(twoToMinus128)); // up to 2^-127
        Assert.Equal(0x00, Down(twoToMinus128, saturate: true));
        Assert.Equal(0xFF, Down(twoToMinus128, saturate: false));
        Assert.Equal(0xFF, Nearest(twoToMinus128, saturate: false));
        Assert.Equal(0x00, Up(float.Epsilon, saturate: true));
        Assert.Equal(0xFF, Down(float.Epsilon, saturate: false));
    }

    [Fact]
    public void Encode_Float32Subnormals_RoundByTheirExactValue()
    {
        // 1.5·2^-127 = 0.75·2^-126 is the midpoint between codes 0 and 1.
        float midpoint = 1.5f * MathF.ScaleB(1f, -127);
        Assert.Equal(0x01, Nearest(midpoint));
        Assert.Equal(0x00, Nearest(MathF.BitDecrement(midpoint)));
        Assert.Equal(0x01, Up(MathF.BitIncrement(MathF.ScaleB(1f, -127))));
        Assert.Equal(0x00, Down(MathF.BitDecrement(MathF.ScaleB(1f, -126))));
    }

    [Fact]
    public void Encode_NegativeInput_IsBelowRange()
    {
        Assert.Equal(0x00, Up(-4f, saturate: true));
        Assert.Equal(0xFF, Up(-4f, saturate: false));
        Assert.Equal(0x00, Up(float.NegativeInfinity, saturate: true));
    }

    [Fact]
    public void Encode_SatisfiesTheDefinitionOfEachMode_OnRandomFloats()
    {
        var random = new Random(8080);
        for (int i = 0; i < 50_000; i++)
        {
            double x = (float)Math.Pow(2, random.NextDouble() * 250 - 125);
            double up = Float8.Decode(Up((float)x), DataType.Float8E8M0);
            double down = Float8.Decode(Down((float)x), DataType.Float8E8M0);
            double nearest = Float8.Decode(Nearest((float)x), DataType.Float8E8M0);

            Assert.True(down <= x && x < 2 * down, $"down({x}) = {down}");
            Assert.True(up >= x && x > up / 2, $"up({x}) = {up}");
            Assert.True(nearest == up || nearest == down, $"nearest({x}) = {nearest}");
            double other = nearest == up ? down : up;
            bool closer = Math.Abs(x - nearest) < Math.Abs(x - other);
            bool tieGoesUp = Math.Abs(x - nearest) == Math.Abs(x - other) && nearest >= other;
            Assert.True(up == down || closer || tieGoesUp, $"nearest({x}) = {nearest}, other {other}");
        }
    }
}
