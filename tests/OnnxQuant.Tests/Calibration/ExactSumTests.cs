using System.Numerics;
using OnnxQuant.Runtime.Calibration.Statistics;

namespace OnnxQuant.Tests.Calibration;

/// <summary><see cref="ExactSum"/>: order-independent exact sums, rounded once (ties to even), with a canonical text form.</summary>
public sealed class ExactSumTests
{
    private static ExactSum SumOf(IEnumerable<double> values)
    {
        var s = new ExactSum();
        foreach (double v in values) s.Add(v);
        return s;
    }

    [Theory]
    [InlineData(new[] { 1e16, 1.0, -1e16 }, 1.0)]                  // naive double sum gives 0
    [InlineData(new[] { 1.0, 1e100, 1.0, -1e100 }, 2.0)]
    [InlineData(new[] { 0.1, 0.2, 0.3, -0.6 }, 2.7755575615628914e-17)] // the exact sum of the three doubles minus 0.6
    [InlineData(new[] { 9007199254740992.0, 1.0 }, 9007199254740992.0)]   // 2^53 + 1: a tie, rounds to even
    [InlineData(new[] { 9007199254740992.0, 3.0 }, 9007199254740996.0)]   // 2^53 + 3: a tie, rounds to even (up)
    [InlineData(new[] { 4.9406564584124654e-324, 4.9406564584124654e-324 }, 9.8813129168249309e-324)] // subnormals
    [InlineData(new double[0], 0.0)]
    public void Value_IsTheExactSumRoundedOnce(double[] values, double expected)
    {
        var s = SumOf(values);
        Assert.Equal(expected, s.Value);
        Assert.Equal(expected, ExactSum.Parse(s.ToExactString()).Value);
    }

    [Fact]
    public void AnOrderOrAGroupingOfTheAdditions_GivesTheSameSumAndText()
    {
        var random = new Random(11);
        // Magnitudes over 80 binades and both signs: double sums of these depend on the order.
        var values = Enumerable.Range(0, 500).Select(_ => (random.NextDouble() - 0.45) * Math.Pow(2, random.Next(-40, 40))).ToArray();
        var reference = ReferenceText(values);
        var inOrder = SumOf(values);
        Assert.Equal(reference, inOrder.ToExactString());

        var shuffled = values.ToArray();
        random.Shuffle(shuffled);
        Assert.Equal(reference, SumOf(shuffled).ToExactString());

        // As shards: sums of four parts, merged.
        var merged = new ExactSum();
        foreach (var part in values.Chunk(137)) merged.Add(SumOf(part));
        Assert.Equal(reference, merged.ToExactString());
        Assert.Equal(inOrder.Value, merged.Value);

        // The naive double sum of the same values in another order differs somewhere in these trials.
        double naive = values.Sum(), naiveShuffled = shuffled.Sum();
        Assert.True(naive != naiveShuffled || naive != inOrder.Value, "the test data should be order-sensitive in double");
        Assert.False(inOrder.IsExactlyRepresentable);
    }

    [Fact]
    public void TextForm_IsCanonical_AndRoundTrips()
    {
        Assert.Equal("0", new ExactSum().ToExactString());
        Assert.Equal("3*2^-1", ExactSum.Of(1.5).ToExactString());
        Assert.Equal("-5*2^2", ExactSum.Of(-20).ToExactString());
        var s = SumOf([1e300, 1e-300, -3.25]);
        var back = ExactSum.Parse(s.ToExactString());
        Assert.Equal(s.ToExactString(), back.ToExactString());
        Assert.True(ExactSum.Of(0.75).IsExactlyRepresentable);
    }

    [Theory]
    [InlineData("")]
    [InlineData("12")]
    [InlineData("1*2^x")]
    [InlineData("0*2^3")]
    [InlineData("1*2^5000")]
    public void MalformedText_IsRefused(string text) => Assert.Throws<FormatException>(() => ExactSum.Parse(text));

    [Fact]
    public void NonFiniteValues_AreRefused() => Assert.Throws<ArgumentException>(() => new ExactSum().Add(double.NaN));

    /// <summary>The exact sum by rational arithmetic with BigInteger numerators over 2^1074, in the canonical text form.</summary>
    private static string ReferenceText(IEnumerable<double> values)
    {
        var total = BigInteger.Zero;
        foreach (double v in values)
        {
            // v · 2^1074 is an integer for every finite double.
            long bits = BitConverter.DoubleToInt64Bits(v);
            int field = (int)((bits >> 52) & 0x7FF);
            long mantissa = field == 0 ? bits & 0xF_FFFF_FFFF_FFFFL : (bits & 0xF_FFFF_FFFF_FFFFL) | (1L << 52);
            int shift = field == 0 ? 0 : field - 1;
            var scaled = (BigInteger)mantissa << shift;
            total += v < 0 ? -scaled : scaled;
        }
        if (total.IsZero) return "0";
        int zeros = (int)BigInteger.TrailingZeroCount(total);
        return $"{total >> zeros}*2^{zeros - 1074}";
    }
}
