using OnnxQuant.Passes.Quantization.Rounding;
using Xunit;

namespace OnnxQuant.Tests.Quantization.Rounding;

/// <summary>
/// GPTQ's register-blocked lazy batch update against the axpy form it replaced (one pass over each row per column j of
/// the block, w −= e_j·U_j, as a multiply then a subtract): equal bit for bit, with 4-row groups and a remainder, 8- and
/// 4-wide column strips and scalar tails, and blocks that start mid-row.
/// </summary>
public sealed class GptqLazyBatchUpdateTests
{
    [Theory]
    [InlineData(7, 101, 0, 40)]
    [InlineData(16, 300, 128, 256)]
    [InlineData(3, 45, 10, 21)]
    [InlineData(4, 140, 0, 128)]
    public void RegisterBlockedUpdateEqualsTheAxpyFormBitForBit(int rows, int k, int start, int end)
    {
        var random = new Random(rows * 7919 + k);
        var u = Enumerable.Range(0, k * k).Select(_ => random.NextDouble() * 2 - 1).ToArray();
        double[][] Rows(int length) =>
            Enumerable.Range(0, rows).Select(_ => Enumerable.Range(0, length).Select(_ => (random.NextDouble() * 2 - 1) * 3).ToArray()).ToArray();
        var w = Rows(k);
        var errors = Rows(end - start);
        var expected = w.Select(r => (double[])r.Clone()).ToArray();
        for (int j = start; j < end; j++)
            for (int t = 0; t < rows; t++)
                GptqRounder.SubtractScaled(expected[t].AsSpan(end), errors[t][j - start], u.AsSpan(j * k + end, k - end));

        GptqLazyBatchUpdate.Apply(w, errors, u, k, start, end);

        for (int t = 0; t < rows; t++)
            for (int l = 0; l < k; l++)
                Assert.True(BitConverter.DoubleToInt64Bits(expected[t][l]) == BitConverter.DoubleToInt64Bits(w[t][l]),
                    $"row {t}, column {l}: {w[t][l]:R} instead of {expected[t][l]:R}");
    }
}
