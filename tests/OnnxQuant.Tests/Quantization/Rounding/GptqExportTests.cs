using OnnxQuant.Ir;
using OnnxQuant.Ir.Building;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Passes.Quantization.Rounding;
using OnnxQuant.Tests.Support;
using static OnnxQuant.Tests.Quantization.WeightOnly.WeightOnlyTestKit;

namespace OnnxQuant.Tests.Quantization.Rounding;

/// <summary>
/// GPTQ through the whole pipeline (calibrate → quantize-weights) on one MatMul: the exported MatMulNBits (no group
/// index input) computes x·Ŵ with exactly the weights the rounder chose from the same XᵀX, so act-order's static
/// groups need no permutation of groups in the export; and a 3-bit grid stored in the 4-bit container keeps its values.
/// </summary>
public class GptqExportTests
{
    private const int Rows = 8, K = 128, N = 24, Samples = 24;

    /// <summary>Inputs whose K features mix a few shared factors with different per-feature gains (so act-order reorders).</summary>
    private static List<float[]> Inputs(int seed, int count)
    {
        var random = new Random(seed);
        var mixing = Enumerable.Range(0, 6 * K).Select(_ => random.NextDouble() * 2 - 1).ToArray();
        var list = new List<float[]>();
        for (int s = 0; s < count; s++)
        {
            var x = new float[Rows * K];
            for (int r = 0; r < Rows; r++)
            {
                var f = Enumerable.Range(0, 6).Select(_ => random.NextDouble() * 2 - 1).ToArray();
                for (int i = 0; i < K; i++)
                    x[r * K + i] = (float)((random.NextDouble() - 0.5) * (1 + i % 7) + Enumerable.Range(0, 6).Sum(j => f[j] * mixing[j * K + i]));
            }
            list.Add(x);
        }
        return list;
    }

    private static Model Model(float[] w)
    {
        var b = new GraphBuilder(opset: 21);
        var x = b.Input("x", DataType.Float, Rows, K);
        b.Output(b.Op("MatMul", [x, b.Constant(Tensor.FromFloats(w, K, N), "w")], name: "mm"), "y", DataType.Float, Rows, N);
        return b.Build();
    }

    [Theory]
    [InlineData(4, true)]
    [InlineData(4, false)]
    [InlineData(3, true)]
    public void ExportedMatMulNBits_ComputesTheRoundersWeights_InTheOriginalGroupOrder(int bits, bool actOrder)
    {
        var random = new Random(3);
        float[] w = Enumerable.Range(0, K * N).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        var calibration = Inputs(4, Samples);
        using var folder = new ScratchFolder();
        using var model = Model(w);
        string recipe = "name: t\npasses:\n  - calibrate\n" +
            $"  - quantize-weights: {{bits: {bits}, block-size: 32, symmetric: false, rounding: gptq, gptq-act-order: {(actOrder ? "true" : "false")}, lm-head: {bits}}}\n";
        Quantizer.Quantize(model, folder.File("q.onnx"), new QuantizeOptions
        {
            Recipe = RecipeSource.Yaml(recipe),
            Calibration = CalibrationData.FromSamples(calibration.Select(x => new Dictionary<string, Tensor> { ["x"] = Tensor.FromFloats(x, Rows, K) })),
        });
        using var quantized = OnnxReader.Read(folder.File("q.onnx"));

        // The reference: the rounder on H = 2·XᵀX/n of the same rows, W as rows of output channels.
        var xtx = new double[K * K];
        foreach (var x in calibration)
            for (int r = 0; r < Rows; r++)
                for (int i = 0; i < K; i++)
                    for (int j = 0; j < K; j++) xtx[i * K + j] += (double)x[r * K + i] * x[r * K + j];
        var rows = new float[N * K];
        for (int kk = 0; kk < K; kk++) for (int n = 0; n < N; n++) rows[n * K + kk] = w[kk * N + n];
        var grid = new WeightGrid(bits, WeightScaleRule.Asymmetric, 32, false, DataType.Float);
        var q = GptqRounder.RoundWithHessian(rows, N, K, grid, GptqRounder.Hessian(xtx, (long)Samples * Rows), new GptqSettings(ActOrder: actOrder));
        var reference = new double[K * N];
        for (int n = 0; n < N; n++) for (int kk = 0; kk < K; kk++) reference[kk * N + n] = q.Dequantize(n, kk);
        Assert.All(q.Codes, c => Assert.InRange(c, 0, (1 << bits) - 1));

        var node = Assert.Single(quantized.Graph.Nodes);
        Assert.Equal("MatMulNBits", node.OpType);
        Assert.Equal(4, node.GetInt("bits", 0));     // 3-bit codes ride in the 4-bit container
        Assert.Equal(4, node.Inputs.Count);          // B, scales, zero points: no g_idx, groups in the original order

        var heldOut = Inputs(9, 1)[0];
        Matches(Product(heldOut, reference, Rows, K, N), NumericAssert.Run(quantized, new Dictionary<string, Tensor> { ["x"] = Tensor.FromFloats(heldOut, Rows, K) })["y"],
            1e-4, "y");

        if (!actOrder) return;
        // The same weights read with groups in act-order's processing order (what an export with a permuted group
        // index would need) are different weights: static groups are what keeps the natural layout exact.
        var order = Enumerable.Range(0, K).OrderByDescending(i => xtx[i * K + i]).ThenBy(i => i).ToArray();
        Assert.NotEqual(Enumerable.Range(0, K), order);
        int blocks = q.BlockCount, moved = 0;
        for (int n = 0; n < N; n++)
            for (int j = 0; j < K; j++)
            {
                int column = order[j], natural = n * blocks + column / 32, permuted = n * blocks + j / 32;
                if ((q.Codes[n * K + column] - q.ZeroPoints[natural]) * q.Scales[natural] != (q.Codes[n * K + column] - q.ZeroPoints[permuted]) * q.Scales[permuted]) moved++;
            }
        Assert.True(moved > K * N / 2, $"only {moved} of {K * N} weights depend on the group layout");
    }
}
