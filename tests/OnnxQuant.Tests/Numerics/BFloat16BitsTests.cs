using OnnxQuant.Ir.Numerics;
using Xunit;

namespace OnnxQuant.Tests.Numerics;

public class BFloat16BitsTests
{
    /// <summary>
    /// Round-to-nearest-even done the slow way: the truncated bfloat16 and the next one up, compared by distance in
    /// double (where every candidate, including 2^128 past the largest bfloat16, is exact).
    /// </summary>
    private static ushort Reference(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        uint sign = bits & 0x80000000u;
        uint magnitudeBits = bits & 0x7FFFFFFFu;
        uint truncated = magnitudeBits & 0xFFFF0000u;
        int exponent = (int)(magnitudeBits >> 23);
        double ulp = Math.Pow(2, (exponent == 0 ? 1 : exponent) - 127 - 7);
        double x = BitConverter.UInt32BitsToSingle(magnitudeBits);
        double low = BitConverter.UInt32BitsToSingle(truncated);
        double high = low + ulp;
        bool lowIsEven = ((truncated >> 16) & 1) == 0;
        bool takeLow = x - low < high - x || (x - low == high - x && lowIsEven);
        uint upper = takeLow ? truncated >> 16 : (truncated >> 16) + 1;
        return (ushort)((sign >> 16) | upper);
    }

    [Fact]
    public void FromFloat_AgreesWithReferenceRounding_OnRandomBitPatterns()
    {
        var random = new Random(16);
        for (int i = 0; i < 200_000; i++)
        {
            float x = BitConverter.UInt32BitsToSingle((uint)random.NextInt64(0, 1L << 32));
            if (float.IsNaN(x)) continue;
            Assert.Equal(Reference(x), BFloat16Bits.FromFloat(x));
        }
    }

    [Fact]
    public void FromFloat_AgreesWithReferenceRounding_OnEveryTieAndItsNeighbours()
    {
        var random = new Random(1616);
        for (int i = 0; i < 20_000; i++)
        {
            uint upper = (uint)random.Next(0, 0x7F80) | (random.Next(2) == 0 ? 0u : 0x8000u);
            uint tie = (upper << 16) | 0x8000u;
            foreach (uint bits in new[] { tie - 1, tie, tie + 1 })
            {
                float x = BitConverter.UInt32BitsToSingle(bits);
                Assert.Equal(Reference(x), BFloat16Bits.FromFloat(x));
            }
        }
    }

    [Theory]
    [InlineData(0x3F800000u, 0x3F80)] // 1.0
    [InlineData(0x3F808000u, 0x3F80)] // tie, kept LSB even: down
    [InlineData(0x3F818000u, 0x3F82)] // tie, kept LSB odd: up
    [InlineData(0x3F808001u, 0x3F81)] // just past the tie: up
    [InlineData(0x3F807FFFu, 0x3F80)] // just below the tie: down
    [InlineData(0xBF818000u, 0xBF82)] // sign does not change the rounding of the magnitude
    [InlineData(0x7F7FFFFFu, 0x7F80)] // float.MaxValue rounds to +Inf
    [InlineData(0x7F800000u, 0x7F80)] // +Inf
    [InlineData(0xFF800000u, 0xFF80)] // -Inf
    [InlineData(0x80000000u, 0x8000)] // -0
    [InlineData(0x00008000u, 0x0000)] // subnormal tie to even zero
    [InlineData(0x00018000u, 0x0002)] // subnormal tie, odd: up
    public void FromFloat_KnownBitPatterns(uint input, int expected)
    {
        Assert.Equal((ushort)expected, BFloat16Bits.FromFloat(BitConverter.UInt32BitsToSingle(input)));
    }

    [Theory]
    [InlineData(0x7FC00000u)]
    [InlineData(0xFFC00000u)]
    [InlineData(0x7F800001u)] // signalling NaN whose payload is only in the dropped bits
    [InlineData(0x7FA00000u)] // signalling NaN with upper payload
    public void FromFloat_KeepsNaNAsQuietNaN(uint nanBits)
    {
        ushort result = BFloat16Bits.FromFloat(BitConverter.UInt32BitsToSingle(nanBits));
        Assert.True(float.IsNaN(BFloat16Bits.ToFloat(result)));
        Assert.Equal(0x0040, result & 0x0040); // quiet bit
        Assert.Equal((ushort)(nanBits >> 16) & 0x8000, result & 0x8000); // sign kept
    }

    [Fact]
    public void ToFloat_IsExactWidening_AndRoundTripsEveryNonNaNCode()
    {
        Assert.Equal(1.5f, BFloat16Bits.ToFloat(0x3FC0));
        Assert.Equal(-2f, BFloat16Bits.ToFloat(0xC000));
        for (int code = 0; code < 0x10000; code++)
        {
            float value = BFloat16Bits.ToFloat((ushort)code);
            Assert.Equal((uint)code << 16, BitConverter.SingleToUInt32Bits(value));
            if (!float.IsNaN(value)) Assert.Equal((ushort)code, BFloat16Bits.FromFloat(value));
        }
    }
}
