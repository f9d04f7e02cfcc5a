using OnnxQuant.Runtime.Calibration.Statistics;
using Xunit;

namespace OnnxQuant.Tests.Calibration;

/// <summary>
/// The blocked rank-k update of Σxxᵀ (<see cref="PackedRankKUpdate"/>) against the rank-1 form it replaced, one row at
/// a time with x_i = 0 skipped: equal bit for bit, for orders that exercise every path (diagonal blocks, 8- and
/// 4-wide column strips, scalar tails, panels of 256 columns, a last block of fewer than 4 rows) and for batches
/// longer than one tile; a row with an infinity keeps the rank-1 form's result (0·∞ is not added).
/// </summary>
public sealed class SecondMomentTileTests
{
    [Theory]
    [InlineData(1, 3)]
    [InlineData(5, 17)]
    [InlineData(13, 40)]
    [InlineData(270, 9)]
    [InlineData(523, 300)]
    public void TiledUpdateEqualsRowByRowBitForBit(int k, int rows)
    {
        var random = new Random(k * 1000 + rows);
        var values = new float[k * rows];
        for (int i = 0; i < values.Length; i++)
            values[i] = random.Next(5) == 0 ? 0 : (float)((random.NextDouble() * 2 - 1) * Math.Pow(10, random.Next(-3, 4)));
        var tiled = new SecondMomentStatistic(k);
        tiled.Add(values.AsSpan(0, rows / 3 * k));
        tiled.Add(values.AsSpan(rows / 3 * k));
        var expected = RowByRow(values, k);
        Assert.Equal(rows, tiled.Rows);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(BitConverter.DoubleToInt64Bits(expected[i]) == BitConverter.DoubleToInt64Bits(tiled.Upper[i]),
                $"entry {i}: {tiled.Upper[i]:R} instead of {expected[i]:R}");
    }

    [Fact]
    public void AnInfinityDoesNotTurnZeroProductsIntoNaN()
    {
        const int k = 12;
        var values = new float[k * 4];
        for (int i = 0; i < values.Length; i++) values[i] = i % 3 == 0 ? 0 : i * 0.25f;
        values[2 * k + 7] = float.PositiveInfinity;
        var s = new SecondMomentStatistic(k);
        s.Add(values);
        var expected = RowByRow(values, k);
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], s.Upper[i]);
        Assert.False(double.IsNaN(s[0, 7]), "x_0 is 0 in every row, so entry (0, 7) must not see 0·∞");
        Assert.True(double.IsPositiveInfinity(s[7, 7]));
    }

    // The rank-1 form: for each row, C[i, j..] += x_i · x[j..] for x_i ≠ 0.
    private static double[] RowByRow(float[] values, int k)
    {
        var upper = new double[k * (k + 1) / 2];
        for (int r = 0; r < values.Length / k; r++)
        {
            int start = 0;
            for (int i = 0; i < k; i++)
            {
                double xi = values[r * k + i];
                if (xi != 0)
                    for (int j = i; j < k; j++) upper[start + j - i] += xi * values[r * k + j];
                start += k - i;
            }
        }
        return upper;
    }
}
