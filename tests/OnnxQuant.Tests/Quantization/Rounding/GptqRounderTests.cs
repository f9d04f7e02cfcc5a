using OnnxQuant.Ir;
using OnnxQuant.Passes.Quantization.Rounding;
using OnnxQuant.Passes.Recipes;

namespace OnnxQuant.Tests.Quantization.Rounding;

/// <summary>GPTQ against round-to-nearest on a layer with a known Hessian, its options, and the recipe check.</summary>
public class GptqRounderTests
{
    private const int Rows = 16, K = 128;

    /// <summary>Random weights in [−1, 1] (rows = output channels).</summary>
    private static float[] Weights(int seed, int rows = Rows, int k = K)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, rows * k).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
    }

    /// <summary>H = 2·XᵀX/n of n rows whose K features mix a few shared factors (correlated inputs, as in a network),
    /// or of independent features with different variances (diagonal H) when <paramref name="correlated"/> is false.</summary>
    private static double[] Hessian(int seed, bool correlated, int k = K, int n = 512)
    {
        var random = new Random(seed);
        const int factors = 8;
        var mixing = Enumerable.Range(0, factors * k).Select(_ => random.NextDouble() * 2 - 1).ToArray();
        var xtx = new double[k * k];
        var x = new double[k];
        for (int row = 0; row < n; row++)
        {
            var f = Enumerable.Range(0, factors).Select(_ => Gaussian(random)).ToArray();
            for (int i = 0; i < k; i++)
            {
                double own = Gaussian(random) * (1 + i % 5);
                x[i] = correlated ? own * 0.3 + Enumerable.Range(0, factors).Sum(j => f[j] * mixing[j * k + i]) : own;
            }
            for (int i = 0; i < k; i++)
                for (int j = 0; j < k; j++) xtx[i * k + j] += x[i] * x[j];
        }
        return GptqRounder.Hessian(xtx, n);
    }

    private static double Gaussian(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());

    /// <summary>The layer output error tr((W − Ŵ) H (W − Ŵ)ᵀ), W as rows.</summary>
    private static double OutputError(float[] w, BlockQuantizedRows q, double[] h)
    {
        int k = q.Columns;
        double total = 0;
        var d = new double[k];
        for (int r = 0; r < q.Rows; r++)
        {
            for (int i = 0; i < k; i++) d[i] = w[r * k + i] - q.Dequantize(r, i);
            for (int i = 0; i < k; i++)
                for (int j = 0; j < k; j++) total += d[i] * h[i * k + j] * d[j];
        }
        return total;
    }

    private static WeightGrid Grid(int bits, bool symmetric, int blockSize) =>
        new(bits, symmetric ? WeightScaleRule.SignedExtreme : WeightScaleRule.Asymmetric, blockSize, false, DataType.Float);

    public static TheoryData<int, bool, int, bool> Grids => new()
    {
        { 4, true, 32, false }, { 4, false, 32, false }, { 4, false, 64, false }, { 4, false, 128, false },
        { 4, true, K, false },   // per channel (one block of K)
        { 2, false, 32, false }, { 3, true, 32, false }, { 8, false, 32, false },
        { 4, false, 32, true }, { 4, true, 64, true }, { 3, false, K, true },  // act-order with static groups
    };

    [Theory]
    [MemberData(nameof(Grids))]
    public void OnACorrelatedHessian_GptqHasStrictlyLowerLayerOutputErrorThanRoundToNearest(int bits, bool symmetric, int blockSize, bool actOrder)
    {
        var w = Weights(1);
        var h = Hessian(2, correlated: true);
        var grid = Grid(bits, symmetric, blockSize);
        var rtn = new RoundToNearest().Round(w, Rows, K, grid, null);
        var gptq = GptqRounder.RoundWithHessian(w, Rows, K, grid, h, new GptqSettings(ActOrder: actOrder));

        double rtnError = OutputError(w, rtn, h), gptqError = OutputError(w, gptq, h);
        Assert.True(gptqError < 0.9 * rtnError, $"gptq {gptqError:G4} vs rtn {rtnError:G4}");
        Assert.All(gptq.Codes, c => Assert.InRange(c, grid.MinCode, grid.MaxCode));
    }

    [Theory]
    [InlineData(true, 32)]
    [InlineData(false, 64)]
    public void OnADiagonalHessian_NoErrorIsPropagated_SoGptqRoundsExactlyLikeRoundToNearest(bool symmetric, int blockSize)
    {
        var w = Weights(3);
        var h = Hessian(4, correlated: false, n: 4096);
        for (int i = 0; i < K; i++)
            for (int j = 0; j < K; j++)
                if (i != j) h[i * K + j] = 0;
        var grid = Grid(4, symmetric, blockSize);
        var rtn = new RoundToNearest().Round(w, Rows, K, grid, null);
        var gptq = GptqRounder.RoundWithHessian(w, Rows, K, grid, h, new GptqSettings());

        Assert.Equal(rtn.Codes, gptq.Codes);
        Assert.Equal(rtn.Scales, gptq.Scales);
        Assert.True(OutputError(w, gptq, h) <= OutputError(w, rtn, h));
    }

    [Fact]
    public void ActOrder_KeepsStaticGroupsInTheExportLayout_TheScalesOfTheUnquantizedWeight()
    {
        var w = Weights(5);
        var h = Hessian(6, correlated: true);
        var grid = Grid(4, false, 32);
        var gptq = GptqRounder.RoundWithHessian(w, Rows, K, grid, h, new GptqSettings(ActOrder: true));
        var expected = grid.ScalesOf(w, Rows, K);

        // Same [rows, K/32] layout and values as round-to-nearest's: group b still holds columns 32b … 32b + 31.
        Assert.Equal(expected.Scales, gptq.Scales);
        Assert.Equal(expected.ZeroPoints, gptq.ZeroPoints);
        Assert.Equal(32, gptq.BlockSize);
        // Act-order really reorders: its codes differ from the natural order's.
        var natural = GptqRounder.RoundWithHessian(w, Rows, K, grid, h, new GptqSettings(ActOrder: false));
        Assert.NotEqual(natural.Codes, gptq.Codes);
    }

    [Fact]
    public void DeadInputs_ZeroTheirWeightColumn_AndTheRestIsStillRounded()
    {
        var w = Weights(7);
        var h = Hessian(8, correlated: true);
        int[] dead = [0, 5, 77];
        foreach (int d in dead)
            for (int i = 0; i < K; i++) h[d * K + i] = h[i * K + d] = 0;
        var grid = Grid(4, false, 32);

        var gptq = GptqRounder.RoundWithHessian(w, Rows, K, grid, h, new GptqSettings());

        for (int r = 0; r < Rows; r++)
            foreach (int d in dead) Assert.Equal(0f, gptq.Dequantize(r, d));
        var rtn = new RoundToNearest().Round(w, Rows, K, grid, null);
        Assert.True(OutputError(w, gptq, h) < OutputError(w, rtn, h));
    }

    [Fact]
    public void SmallerLazyBlocks_GiveTheSameRounding_UpToFloatingPointOrder()
    {
        var w = Weights(9);
        var h = Hessian(10, correlated: true);
        var grid = Grid(4, true, 32);
        var a = GptqRounder.RoundWithHessian(w, Rows, K, grid, h, new GptqSettings(BlockSize: 128));
        var b = GptqRounder.RoundWithHessian(w, Rows, K, grid, h, new GptqSettings(BlockSize: 16));
        int differing = a.Codes.Zip(b.Codes).Count(p => p.First != p.Second);
        Assert.True(differing <= a.Codes.Length / 100, $"{differing} of {a.Codes.Length} codes differ");
        var again = GptqRounder.RoundWithHessian(w, Rows, K, grid, h, new GptqSettings(BlockSize: 128));
        Assert.Equal(a.Codes, again.Codes);
    }

    [Fact]
    public void GptqWithoutACalibrateStepBefore_IsRejectedAtItsYamlLine()
    {
        var e = Assert.Throws<RecipeException>(() =>
            RecipeLoader.Parse("name: g\npasses:\n  - dce\n  - quantize-weights: {rounding: gptq}\n", "g.yaml"));

        Assert.Equal(4, e.Location.Line);
        Assert.StartsWith("g.yaml:4:5: Pass 'quantize-weights' reads calibration statistics (XᵀX of linear inputs), which no earlier pass collects", e.Message);
        Assert.Contains("Put 'calibrate' before 'quantize-weights'.", e.Message);
        // Round-to-nearest reads nothing, so the same recipe with rtn loads.
        RecipeLoader.Parse("name: g\npasses:\n  - dce\n  - quantize-weights: {rounding: rtn}\n", "g.yaml");
    }

    [Fact]
    public void GptqOnTheDynamicQdqPass_ReadsXtX_SoARecipeWithoutCalibrateIsRefused()
    {
        // With a calibrate step before, the recipe loads.
        RecipeLoader.Parse("name: r\npasses:\n  - calibrate\n  - insert-dynamic-qdq: {rounding: gptq}\n", "r.yaml");
        var e = Assert.Throws<RecipeException>(() =>
            RecipeLoader.Parse("name: r\npasses:\n  - dce\n  - insert-dynamic-qdq: {rounding: gptq}\n", "r.yaml"));
        Assert.Contains("Put 'calibrate' before 'insert-dynamic-qdq'.", e.Message);
    }
}
