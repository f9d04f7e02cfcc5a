using OnnxQuant.Ir;
using OnnxQuant.Ir.Building;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Passes.Quantization.Rounding;
using OnnxQuant.Tests.Support;
using static OnnxQuant.Tests.Quantization.WeightOnly.WeightOnlyTestKit;

namespace OnnxQuant.Tests.Quantization.Rounding;

/// <summary>GPTQT: the binary-coding fit, the rounder against plain GPTQ at the same planes, and the standard-ONNX
/// float decomposition against the C# reference in ONNX Runtime.</summary>
public class GptqtTests
{
    [Theory]
    [InlineData(2, 0.05, -0.3)]
    [InlineData(3, 0.01, 0.2)]
    [InlineData(1, 0.5, 0)]
    public void ALinearGridOf2PowPLevels_IsCodedExactly_WithAlphasOfTheScaleTimesPowersOfTwo(int planes, double scale, double low)
    {
        // Every level of the linear grid low + s·q, q = 0 … 2^p − 1, several times (ALGORITHMS.md §4's identity).
        var values = Enumerable.Range(0, 5 << planes).Select(i => low + scale * (i * 7 % (1 << planes))).ToArray();
        var fit = BinaryCoding.Solve(values, Enumerable.Repeat(1.0, values.Length).ToArray(), planes);

        for (int i = 0; i < planes; i++) Assert.Equal(scale * (1 << (planes - 1 - i)) / 2, fit.Alphas[i], 12);
        Assert.Equal(low + scale * ((1 << planes) - 1) / 2, fit.Offset, 12);
        for (int j = 0; j < values.Length; j++) Assert.Equal(values[j], BinaryCoding.Level(fit.Offset, fit.Alphas, fit.Patterns[j]), 12);
    }

    [Fact]
    public void TheFit_IsALeastSquaresFixedPoint_AndNoWorseThanTheBestLinearGridOfAsManyLevels()
    {
        var random = new Random(11);
        var values = Enumerable.Range(0, 64).Select(_ => Math.Pow(random.NextDouble() * 2 - 1, 3)).ToArray();
        var ones = Enumerable.Repeat(1.0, values.Length).ToArray();
        var fit = BinaryCoding.Solve(values, ones, 2);
        double Error(double offset, double[] alphas) => values.Sum(v => Math.Pow(v - BinaryCoding.Level(offset, alphas, BinaryCoding.Nearest(v, offset, alphas)), 2));
        double bcq = Error(fit.Offset, fit.Alphas);

        // Moving any parameter a little does not help (a local optimum of the alternating fit).
        foreach (double delta in new[] { 1e-3, -1e-3 })
        {
            Assert.True(Error(fit.Offset + delta, fit.Alphas) >= bcq - 1e-12);
            for (int i = 0; i < 2; i++)
            {
                var a = (double[])fit.Alphas.Clone();
                a[i] += delta;
                Assert.True(Error(fit.Offset, a) >= bcq - 1e-12);
            }
        }
        // A linear 4-level grid is a binary code with α₁ = 2α₂: the best of those on a fine scan is not better.
        double min = values.Min(), max = values.Max(), bestLinear = double.PositiveInfinity;
        for (int i = 1; i <= 200; i++)
        {
            double s = (max - min) / 3 * i / 200;
            for (int j = 0; j <= 40; j++)
            {
                double start = min + (max - min) * j / 40 - s;
                bestLinear = Math.Min(bestLinear, Error(start + 1.5 * s, [s, s / 2]));
            }
        }
        Assert.True(bcq <= bestLinear, $"binary coding {bcq:G4} vs best linear {bestLinear:G4}");
        Assert.True(fit.Alphas[0] >= fit.Alphas[1] && fit.Alphas[1] >= 0);
    }

    private const int Rows = 16, K = 128;

    [Theory]
    [InlineData(2, 32, false)]
    [InlineData(2, 64, true)]
    [InlineData(3, 32, true)]
    public void OnACorrelatedHessian_GptqtHasLowerLayerOutputErrorThanGptqAtAsManyLevels(int planes, int group, bool actOrder)
    {
        var random = new Random(21);
        var w = Enumerable.Range(0, Rows * K).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        var h = CorrelatedHessian(22);
        var gptq = GptqRounder.RoundWithHessian(w, Rows, K, new WeightGrid(planes, WeightScaleRule.Asymmetric, group, false, DataType.Float), h,
            new GptqSettings(ActOrder: actOrder));
        var gptqt = GptqtRounder.RoundWithHessian(w, Rows, K, group, h,
            new GptqtSettings(planes, planes + 1, new GptqSettings(ActOrder: actOrder), GptqtSettings.DefaultScaleFactors));

        double gptqError = OutputError(w, gptq.Dequantize, h), gptqtError = OutputError(w, gptqt.Dequantize, h);
        Assert.True(gptqtError < gptqError, $"gptqt {gptqtError:G4} vs gptq {gptqError:G4}");
        Assert.All(gptqt.Patterns, p => Assert.InRange(p, 0, (1 << planes) - 1));
        // Deterministic.
        var again = GptqtRounder.RoundWithHessian(w, Rows, K, group, h,
            new GptqtSettings(planes, planes + 1, new GptqSettings(ActOrder: actOrder), GptqtSettings.DefaultScaleFactors));
        Assert.Equal(gptqt.Patterns, again.Patterns);
        Assert.Equal(gptqt.Alphas, again.Alphas);
    }

    private static double[] CorrelatedHessian(int seed)
    {
        var random = new Random(seed);
        var mixing = Enumerable.Range(0, 8 * K).Select(_ => random.NextDouble() * 2 - 1).ToArray();
        var xtx = new double[K * K];
        var x = new double[K];
        const int n = 512;
        for (int row = 0; row < n; row++)
        {
            var f = Enumerable.Range(0, 8).Select(_ => random.NextDouble() * 2 - 1).ToArray();
            for (int i = 0; i < K; i++) x[i] = (random.NextDouble() - 0.5) * (1 + i % 5) + Enumerable.Range(0, 8).Sum(j => f[j] * mixing[j * K + i]);
            for (int i = 0; i < K; i++)
                for (int j = 0; j < K; j++) xtx[i * K + j] += x[i] * x[j];
        }
        return GptqRounder.Hessian(xtx, n);
    }

    private static double OutputError(float[] w, Func<int, int, float> dequantize, double[] h)
    {
        double total = 0;
        var d = new double[K];
        for (int r = 0; r < Rows; r++)
        {
            for (int i = 0; i < K; i++) d[i] = w[r * K + i] - dequantize(r, i);
            for (int i = 0; i < K; i++)
                for (int j = 0; j < K; j++) total += d[i] * h[i * K + j] * d[j];
        }
        return total;
    }

    [Theory]
    [InlineData(2, 32, 96)]
    [InlineData(3, 32, 80)]      // K not a multiple of the block: the decomposition slices the last block
    public void TheFloatDecomposition_RunsInOrt_AndComputesTheReferenceWeights(int planes, int group, int k)
    {
        const int m = 4, n = 12, samples = 16;
        var random = new Random(31);
        float[] w = Enumerable.Range(0, k * n).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        var calibration = Enumerable.Range(0, samples).Select(_ => Enumerable.Range(0, m * k).Select(i => (float)((random.NextDouble() - 0.5) * (1 + i % k % 3))).ToArray()).ToList();
        var b = new GraphBuilder(opset: 21);
        var x = b.Input("x", DataType.Float, m, k);
        b.Output(b.Op("MatMul", [x, b.Constant(Tensor.FromFloats(w, k, n), "w")], name: "mm"), "y", DataType.Float, m, n);
        using var model = b.Build();
        using var folder = new ScratchFolder();
        string recipe = "name: t\npasses:\n  - calibrate\n" +
            $"  - quantize-weights: {{bits: {planes}, block-size: {group}, rounding: gptqt, gptqt-linear-bits: {planes + 2}, gptq-act-order: true, format: dq, lm-head: {planes}}}\n";
        Quantizer.Quantize(model, folder.File("q.onnx"), new QuantizeOptions
        {
            Recipe = RecipeSource.Yaml(recipe),
            Calibration = CalibrationData.FromSamples(calibration.Select(v => new Dictionary<string, Tensor> { ["x"] = Tensor.FromFloats(v, m, k) })),
        });
        using var quantized = OnnxReader.Read(folder.File("q.onnx"));

        var xtx = new double[k * k];
        foreach (var v in calibration)
            for (int r = 0; r < m; r++)
                for (int i = 0; i < k; i++)
                    for (int j = 0; j < k; j++) xtx[i * k + j] += (double)v[r * k + i] * v[r * k + j];
        var rows = new float[n * k];
        for (int kk = 0; kk < k; kk++) for (int c = 0; c < n; c++) rows[c * k + kk] = w[kk * n + c];
        var q = GptqtRounder.RoundWithHessian(rows, n, k, group, GptqRounder.Hessian(xtx, (long)samples * m),
            new GptqtSettings(planes, planes + 2, new GptqSettings(ActOrder: true), GptqtSettings.DefaultScaleFactors));
        var reference = new double[k * n];
        for (int c = 0; c < n; c++) for (int kk = 0; kk < k; kk++) reference[kk * n + c] = q.Dequantize(c, kk);
        Assert.True(reference.Zip(w).Any(p => Math.Abs(p.First - p.Second) > 1e-3), "nothing was quantized");

        Assert.All(quantized.Graph.Nodes, node => Assert.Equal("", node.Domain));
        Assert.Single(quantized.Graph.Nodes, node => node.OpType == "MatMul");
        var codes = Assert.Single(quantized.Graph.Constants, c => c.Const!.ElementType == DataType.UInt4 && c.Const.ElementCount == k * n);
        Assert.DoesNotContain(quantized.Graph.Constants, c => c.Const!.ElementType == DataType.Float && c.Const.ElementCount == k * n);

        var heldOut = Enumerable.Range(0, m * k).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        Matches(Product(heldOut, reference, m, k, n), NumericAssert.Run(quantized, new Dictionary<string, Tensor> { ["x"] = Tensor.FromFloats(heldOut, m, k) })["y"],
            1e-4, "y");
    }

    [Theory]
    [InlineData("format: matmulnbits", "set format: dq")]
    [InlineData("format: dq, gptqt-linear-bits: 2", "gptqt-linear-bits is 2")]
    public void BadGptqtOptions_GiveClearErrors(string options, string expected)
    {
        var b = new GraphBuilder(opset: 21);
        var x = b.Input("x", DataType.Float, 2, 32);
        b.Output(b.Op("MatMul", [x, b.Constant(Tensor.FromFloats(new float[32 * 4], 32, 4), "w")], name: "mm"), "y", DataType.Float, 2, 4);
        using var model = b.Build();
        using var folder = new ScratchFolder();
        var e = Assert.ThrowsAny<OnnxQuantException>(() => Quantizer.Quantize(model, folder.File("q.onnx"), new QuantizeOptions
        {
            Recipe = RecipeSource.Yaml($"name: t\npasses:\n  - calibrate\n  - quantize-weights: {{bits: 2, rounding: gptqt, lm-head: 2, {options}}}\n"),
            Calibration = CalibrationData.FromSamples([new Dictionary<string, Tensor> { ["x"] = Tensor.FromFloats(new float[64], 2, 32) }]),
        }));
        Assert.Contains(expected, e.Message);
        Assert.False(File.Exists(folder.File("q.onnx")));
    }
}
