using OnnxQuant.Ir;
using OnnxQuant.Ir.Building;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Passes.Quantization.Rounding;
using OnnxQuant.Passes.Quantization.WeightOnly;

namespace OnnxQuant.Tests.Quantization.Rounding;

/// <summary>
/// gptq-sequential on two chained MatMuls: the first layer is rounded on the float input's XᵀX, the second on the XᵀX
/// of the first layer's quantized output (x·Ŵ₁), not of its float output; one calibration run per layer input and no
/// calibrate step needed in the recipe.
/// </summary>
public class GptqSequentialTests
{
    private const int Rows = 8, K = 64, Hidden = 64, N = 16, Samples = 24;

    private static float[] Random(int seed, int count, double scale = 1)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => (float)((random.NextDouble() * 2 - 1) * scale)).ToArray();
    }

    private static Model Chain(float[] w1, float[] w2)
    {
        var b = new GraphBuilder(opset: 21);
        var x = b.Input("x", DataType.Float, Rows, K);
        var h = b.Op("MatMul", [x, b.Constant(Tensor.FromFloats(w1, K, Hidden), "w1")], name: "mm1");
        b.Output(b.Op("MatMul", [h, b.Constant(Tensor.FromFloats(w2, Hidden, N), "w2")], name: "mm2"), "y", DataType.Float, Rows, N);
        return b.Build();
    }

    private static double[] Hessian(IEnumerable<float[]> inputs, int k)
    {
        var xtx = new double[k * k];
        long rows = 0;
        foreach (var x in inputs)
            for (int r = 0; r < x.Length / k; r++, rows++)
                for (int i = 0; i < k; i++)
                    for (int j = 0; j < k; j++) xtx[i * k + j] += (double)x[r * k + i] * x[r * k + j];
        return GptqRounder.Hessian(xtx, rows);
    }

    private static float[] AsRows(float[] w, int k, int n)
    {
        var rows = new float[n * k];
        for (int i = 0; i < k; i++) for (int c = 0; c < n; c++) rows[c * k + i] = w[i * n + c];
        return rows;
    }

    /// <summary>The codes of a MatMulNBits ([N, K/32, 16] 4-bit B) as [N, K].</summary>
    private static int[] Codes(Node nbits) => MatMulNBitsPacking.Unpack(nbits.Inputs[1]!.Const!.AsSpan<byte>(), 4, (int)nbits.Inputs[1]!.Const!.ElementCount * 2);

    private static (Model Model, IReadOnlyDictionary<string, long> Counters) Quantize(Model model, List<float[]> data, bool sequential, ScratchFolder folder)
    {
        string recipe = "name: t\npasses:\n" + (sequential ? "" : "  - calibrate\n") +
            $"  - quantize-weights: {{bits: 4, block-size: 32, symmetric: false, rounding: gptq, gptq-sequential: {(sequential ? "true" : "false")}, lm-head: 4}}\n";
        string path = folder.File(sequential ? "seq.onnx" : "float.onnx");
        var result = Quantizer.Quantize(model, path, new QuantizeOptions
        {
            Recipe = RecipeSource.Yaml(recipe),
            Calibration = CalibrationData.FromSamples(data.Select(x => new Dictionary<string, Tensor> { ["x"] = Tensor.FromFloats(x, Rows, K) })),
        });
        return (OnnxReader.Read(path), result.Counters);
    }

    [Fact]
    public void TheSecondLayer_IsRoundedOnTheXtXOfTheFirstLayersQuantizedOutput()
    {
        float[] w1 = Random(1, K * Hidden, 0.3), w2 = Random(2, Hidden * N);
        var data = Enumerable.Range(0, Samples).Select(i => Random(100 + i, Rows * K)).ToList();
        using var folder = new ScratchFolder();
        using var forSequential = Chain(w1, w2);
        using var forFloat = Chain(w1, w2);
        var (sequential, counters) = Quantize(forSequential, data, sequential: true, folder);
        var (floatHessian, _) = Quantize(forFloat, data, sequential: false, folder);
        using var _1 = sequential;
        using var _2 = floatHessian;
        Assert.Equal(2, counters["quantize-weights.sequential-calibrations"]);

        // Reference: layer 1 on H(x), then layer 2 on H(x·Ŵ₁).
        var grid = new WeightGrid(4, WeightScaleRule.Asymmetric, 32, false, DataType.Float);
        var q1 = GptqRounder.RoundWithHessian(AsRows(w1, K, Hidden), Hidden, K, grid, Hessian(data, K), new GptqSettings());
        var quantizedHidden = data.Select(x =>
        {
            var h = new float[Rows * Hidden];
            for (int r = 0; r < Rows; r++)
                for (int c = 0; c < Hidden; c++)
                {
                    float sum = 0;
                    for (int i = 0; i < K; i++) sum += x[r * K + i] * q1.Dequantize(c, i);
                    h[r * Hidden + c] = sum;
                }
            return h;
        }).ToList();
        var q2 = GptqRounder.RoundWithHessian(AsRows(w2, Hidden, N), N, Hidden, grid, Hessian(quantizedHidden, Hidden), new GptqSettings());

        var nodes = sequential.Graph.Nodes.Where(n => n.OpType == "MatMulNBits").ToList();
        Assert.Equal(2, nodes.Count);
        Assert.Equal(q1.Codes.Select(c => (int)c), Codes(nodes[0]));
        int[] second = Codes(nodes[1]);
        int differing = second.Zip(q2.Codes).Count(p => p.First != p.Second);
        // Float summation order (ORT's MatMulNBits against this loop) may move a code that sits on a rounding boundary.
        Assert.True(differing <= second.Length / 100, $"{differing} of {second.Length} second-layer codes differ from the reference");

        // With the float model's Hessian the first layer is the same and the second is not.
        var floatNodes = floatHessian.Graph.Nodes.Where(n => n.OpType == "MatMulNBits").ToList();
        Assert.Equal(Codes(nodes[0]), Codes(floatNodes[0]));
        int changed = Codes(floatNodes[1]).Zip(second).Count(p => p.First != p.Second);
        Assert.True(changed > 5 * Math.Max(1, differing), $"only {changed} second-layer codes depend on the first layer's quantization");
    }

    [Fact]
    public void Sequential_WithRoundToNearest_IsRefusedWithAMessage()
    {
        using var model = Chain(Random(1, K * Hidden), Random(2, Hidden * N));
        using var folder = new ScratchFolder();
        var e = Assert.ThrowsAny<OnnxQuantException>(() => Quantizer.Quantize(model, folder.File("q.onnx"), new QuantizeOptions
        {
            Recipe = RecipeSource.Yaml("name: t\npasses:\n  - quantize-weights: {bits: 4, gptq-sequential: true}\n"),
            Calibration = CalibrationData.FromSamples([new Dictionary<string, Tensor> { ["x"] = Tensor.FromFloats(Random(3, Rows * K), Rows, K) }]),
        }));
        Assert.Contains("gptq-sequential calibrates layer by layer for rounding: gptq or gptqt", e.Message);
    }
}
