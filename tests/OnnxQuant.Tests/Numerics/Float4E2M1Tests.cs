using OnnxQuant.Ir.Numerics;
using Xunit;

namespace OnnxQuant.Tests.Numerics;

public class Float4E2M1Tests
{
    // ONNX docs/technical/float4.md: bits (ignoring sign) 000..111.
    private static readonly float[] SpecMagnitudes = [0f, 0.5f, 1f, 1.5f, 2f, 3f, 4f, 6f];

    [Fact]
    public void Decode_MatchesSpecCodeTable()
    {
        for (int code = 0; code < 8; code++)
        {
            Assert.Equal(SpecMagnitudes[code], Float4E2M1.Decode((byte)code));
            Assert.Equal(-SpecMagnitudes[code], Float4E2M1.Decode((byte)(code | 0x8)));
        }

        Assert.True(float.IsNegative(Float4E2M1.Decode(0x8)));
    }

    [Fact]
    public void Encode_RoundTripsAll16Codes()
    {
        for (int code = 0; code < 16; code++)
            Assert.Equal((byte)code, Float4E2M1.Encode(Float4E2M1.Decode((byte)code)));
    }

    [Theory]
    [InlineData(0.25f, 0x0)] // between 0 (even) and 0.5
    [InlineData(0.75f, 0x2)] // between 0.5 and 1 (even)
    [InlineData(1.25f, 0x2)] // between 1 (even) and 1.5
    [InlineData(1.75f, 0x4)] // between 1.5 and 2 (even)
    [InlineData(2.5f, 0x4)] // between 2 (even) and 3
    [InlineData(3.5f, 0x6)] // between 3 and 4 (even)
    [InlineData(5f, 0x6)] // between 4 (even) and 6
    [InlineData(-5f, 0xE)]
    [InlineData(-0.25f, 0x8)]
    public void Encode_RoundsTiesToEven(float x, int expected)
    {
        Assert.Equal((byte)expected, Float4E2M1.Encode(x));
    }

    [Fact]
    public void Encode_ValuesNextToMidpointsGoToTheNearerCode()
    {
        for (int code = 0; code < 7; code++)
        {
            float midpoint = (SpecMagnitudes[code] + SpecMagnitudes[code + 1]) / 2;
            Assert.Equal((byte)code, Float4E2M1.Encode(MathF.BitDecrement(midpoint)));
            Assert.Equal((byte)(code + 1), Float4E2M1.Encode(MathF.BitIncrement(midpoint)));
        }
    }

    // float4.md Cast table: x > 6 → 6, x < -6 → -6, ±Inf → ±6, NaN → 6, ±0 → ±0.
    [Theory]
    [InlineData(6.5f, 0x7)]
    [InlineData(7f, 0x7)]
    [InlineData(1e30f, 0x7)]
    [InlineData(float.PositiveInfinity, 0x7)]
    [InlineData(-100f, 0xF)]
    [InlineData(float.NegativeInfinity, 0xF)]
    [InlineData(float.NaN, 0x7)]
    [InlineData(0f, 0x0)]
    [InlineData(-0f, 0x8)]
    public void Encode_SpecialAndOutOfRangeValues_FollowSpecTable(float x, int expected)
    {
        Assert.Equal((byte)expected, Float4E2M1.Encode(x, saturate: true));
        Assert.Equal((byte)expected, Float4E2M1.Encode(x, saturate: false));
    }

    [Fact]
    public void Encode_AgreesWithNearestEvenSearch_OnRandomFloats()
    {
        var random = new Random(4);
        for (int i = 0; i < 20_000; i++)
        {
            float x = (float)((random.NextDouble() * 2 - 1) * 8);
            float magnitude = Math.Abs(x);
            int best = 0;
            for (int code = 1; code < 8; code++)
            {
                float d = Math.Abs(magnitude - SpecMagnitudes[code]), bestD = Math.Abs(magnitude - SpecMagnitudes[best]);
                if (d < bestD || (d == bestD && code % 2 == 0)) best = code;
            }

            int expected = (float.IsNegative(x) ? 0x8 : 0) | best;
            Assert.Equal((byte)expected, Float4E2M1.Encode(x));
        }
    }

    [Fact]
    public void Decode_ReadsOnlyTheLowNibble()
    {
        Assert.Equal(Float4E2M1.Decode(0x3), Float4E2M1.Decode(0xA3));
    }
}
