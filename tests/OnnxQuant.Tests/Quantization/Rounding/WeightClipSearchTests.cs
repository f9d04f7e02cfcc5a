using OnnxQuant.Ir;
using OnnxQuant.Passes.Quantization.Rounding;

namespace OnnxQuant.Tests.Quantization.Rounding;

/// <summary>
/// <see cref="WeightClipSearch"/>: each block's range shrunk on a grid, keeping the least (H-weighted) rounding error.
/// Errors are recomputed here from the dequantized weights, independently of the search's own arithmetic.
/// </summary>
public class WeightClipSearchTests
{
    private const int Rows = 24, K = 64;

    /// <summary>Heavy-tailed weights (a Laplace-like bulk and a few large values per row), as trained weights are.</summary>
    private static float[] Weights(int seed)
    {
        var random = new Random(seed);
        var w = new float[Rows * K];
        for (int i = 0; i < w.Length; i++)
        {
            double u = random.NextDouble() - 0.5;
            w[i] = (float)(-Math.Sign(u) * Math.Log(1 - 2 * Math.Abs(u)) * 0.1);
        }
        for (int r = 0; r < Rows; r++) w[r * K + random.Next(K)] *= 4;
        return w;
    }

    /// <summary>XᵀX of correlated inputs with unequal channel scales.</summary>
    private static double[] SecondMoment(int seed, int n = 256)
    {
        var random = new Random(seed);
        var mixing = Enumerable.Range(0, 4 * K).Select(_ => random.NextDouble() * 2 - 1).ToArray();
        var xtx = new double[K * K];
        var x = new double[K];
        for (int row = 0; row < n; row++)
        {
            var f = Enumerable.Range(0, 4).Select(_ => random.NextDouble() * 2 - 1).ToArray();
            for (int i = 0; i < K; i++) x[i] = (random.NextDouble() * 2 - 1) * (1 + i % 7) + Enumerable.Range(0, 4).Sum(j => f[j] * mixing[j * K + i]);
            for (int i = 0; i < K; i++)
                for (int j = 0; j < K; j++) xtx[i * K + j] += x[i] * x[j];
        }
        return xtx;
    }

    /// <summary>Per row: Σ e·H·e over the whole row (H null: Σ e²) of the weight rounded to nearest on <paramref name="scales"/>.</summary>
    private static double[] RowErrors(float[] w, WeightGrid grid, BlockScales scales, double[]? h)
    {
        var q = new RoundToNearest().Round(w, Rows, K, grid, null, scales);
        var errors = new double[Rows];
        var d = new double[K];
        for (int r = 0; r < Rows; r++)
        {
            for (int i = 0; i < K; i++) d[i] = w[r * K + i] - (double)q.Dequantize(r, i);
            for (int i = 0; i < K; i++)
                for (int j = 0; j < K; j++)
                    errors[r] += h is null ? (i == j ? d[i] * d[i] : 0) : d[i] * h[i * K + j] * d[j];
        }
        return errors;
    }

    public static TheoryData<int, WeightScaleRule, int> Grids() => new()
    {
        { 4, WeightScaleRule.NarrowSymmetric, K },   // insert-qdq's 4-bit per-channel weights
        { 4, WeightScaleRule.Asymmetric, 32 },        // w4a16-gptq's grid
        { 3, WeightScaleRule.Asymmetric, 16 },
        { 2, WeightScaleRule.SignedExtreme, 32 },
    };

    [Theory]
    [MemberData(nameof(Grids))]
    public void WithoutHessian_NoRowIsWorse_AndTheWeightMseDrops(int bits, WeightScaleRule rule, int blockSize)
    {
        var w = Weights(1);
        var grid = new WeightGrid(bits, rule, blockSize, false, DataType.Float);
        var full = RowErrors(w, grid, grid.ScalesOf(w, Rows, K), null);
        var searchedScales = WeightClipSearch.Search(w, Rows, K, grid, null);
        var searched = RowErrors(w, grid, searchedScales, null);

        for (int r = 0; r < Rows; r++) Assert.True(searched[r] <= full[r] * (1 + 1e-12), $"row {r}: {searched[r]:G6} > {full[r]:G6}");
        Assert.True(searched.Sum() < 0.97 * full.Sum(), $"weight MSE {searched.Sum():G5} is not 3% below the full range's {full.Sum():G5}");   // measured 5–8%
        // Clipping only: no block's step is larger than its full-range step.
        var fullScales = grid.ScalesOf(w, Rows, K).Scales;
        Assert.All(searchedScales.Scales.Zip(fullScales), p => Assert.True(p.First <= p.Second));
    }

    [Theory]
    [MemberData(nameof(Grids))]
    public void WithHessian_TheLayerOutputErrorIsAtMostTheMseSearchsAndTheFullRanges(int bits, WeightScaleRule rule, int blockSize)
    {
        var w = Weights(2);
        var h = SecondMoment(3);
        var grid = new WeightGrid(bits, rule, blockSize, false, DataType.Float);
        var full = RowErrors(w, grid, grid.ScalesOf(w, Rows, K), h);
        var mse = RowErrors(w, grid, WeightClipSearch.Search(w, Rows, K, grid, null), h);
        var weighted = RowErrors(w, grid, WeightClipSearch.Search(w, Rows, K, grid, h), h);

        if (blockSize == K)
        {
            // One block per row (K ≤ 128: the search's error is the exact eᵀHe): the H-weighted choice is the best
            // candidate for this error, and the weight-MSE choice is one of the candidates.
            for (int r = 0; r < Rows; r++)
            {
                Assert.True(weighted[r] <= full[r] * (1 + 1e-9), $"row {r}: {weighted[r]:G6} > full range {full[r]:G6}");
                Assert.True(weighted[r] <= mse[r] * (1 + 1e-9), $"row {r}: {weighted[r]:G6} > MSE search {mse[r]:G6}");
            }
        }
        Assert.True(weighted.Sum() < 0.9 * full.Sum(), $"layer output error {weighted.Sum():G5} is not 10% below the full range's {full.Sum():G5}");
        Assert.True(weighted.Sum() <= mse.Sum(), $"H-weighted {weighted.Sum():G5} > MSE search {mse.Sum():G5}");
    }

    [Fact]
    public void PerTensorGrid_IsLeftAsItIs_AndTheSearchIsDeterministic()
    {
        var w = Weights(4);
        var perTensor = new WeightGrid(4, WeightScaleRule.NarrowSymmetric, K, true, DataType.Float);
        Assert.Equal(perTensor.ScalesOf(w, Rows, K).Scales, WeightClipSearch.Search(w, Rows, K, perTensor, null).Scales);
        var grid = new WeightGrid(4, WeightScaleRule.Asymmetric, 32, false, DataType.Float);
        var h = SecondMoment(5);
        var a = WeightClipSearch.Search(w, Rows, K, grid, h);
        var b = WeightClipSearch.Search(w, Rows, K, grid, h);
        Assert.Equal(a.Scales, b.Scales);
        Assert.Equal(a.ZeroPoints, b.ZeroPoints);
    }
}
