using OnnxQuant.Ir.Numerics;
using Xunit;

namespace OnnxQuant.Tests.Numerics;

public class HalfBitsTests
{
    [Theory]
    [InlineData(1f, 0x3C00)]
    [InlineData(-2f, 0xC000)]
    [InlineData(65504f, 0x7BFF)] // largest finite binary16
    [InlineData(65520f, 0x7C00)] // halfway to 65536: ties to even overflows to +Inf
    [InlineData(5.9604645e-08f, 0x0001)] // 2^-24, smallest subnormal
    [InlineData(1.00048828125f, 0x3C00)] // 1 + 2^-11: tie, rounds to even 1.0
    public void FromFloat_MatchesIeeeBinary16(float x, int expected)
    {
        Assert.Equal((ushort)expected, HalfBits.FromFloat(x));
    }

    [Fact]
    public void ToFloat_RoundTripsEveryNonNaNCode()
    {
        for (int code = 0; code < 0x10000; code++)
        {
            float value = HalfBits.ToFloat((ushort)code);
            if (float.IsNaN(value)) continue;
            Assert.Equal((ushort)code, HalfBits.FromFloat(value));
        }
    }
}
