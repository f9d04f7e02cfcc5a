using OnnxQuant.Ir;
using OnnxQuant.Ir.Building;
using OnnxQuant.Passes;
using OnnxQuant.Passes.Quantization;
using OnnxQuant.Runtime.Audit;
using OnnxQuant.Tests.Support;
using static OnnxQuant.Tests.Quantization.QdqTestKit;

namespace OnnxQuant.Tests.Quantization;

public class Float16QdqTests
{
    private const int M = 4, K = 32, N = 8;

    /// <summary>Converts a float model to float16 in place: constants (through TensorConversions), inputs, outputs and value types.</summary>
    private static void ToFloat16(Model model)
    {
        var graph = model.Graph;
        foreach (var c in graph.Constants.Where(c => c.Const!.ElementType == DataType.Float).ToList())
        {
            var half = graph.AddConstant(c.Const!.CastTo(DataType.Float16), graph.FreshName(c.Name + "_fp16"));
            c.ReplaceAllUsesWith(half);
            graph.RemoveConstant(c);
        }
        foreach (var v in graph.Inputs.Concat(graph.Outputs).Concat(graph.Nodes.SelectMany(n => n.Outputs).OfType<Value>()).Distinct())
            if (v.ElementType == DataType.Float) v.Type = new TensorType(DataType.Float16, v.Shape);
    }

    private static Model MatMulModel(float[] w)
    {
        var b = new GraphBuilder(opset: 21);
        var x = b.Input("x", DataType.Float, M, K);
        b.Output(b.Op("MatMul", x, b.Constant(Tensor.FromFloats(w, K, N), "w")), "y", DataType.Float, M, N);
        var model = b.Build();
        ToFloat16(model);
        return model;
    }

    [Fact]
    public void Float16Model_GetsFloat16Scales_RunsInOrt_AndMatchesTheFakeQuantReference()
    {
        float[] w = RandomFloats(21, K * N, -1, 1);
        using var model = MatMulModel(w);
        float[] xs = RandomFloats(22, M * K, -2, 3).Select(v => (float)(Half)v).ToArray();
        var feeds = new Dictionary<string, Tensor> { ["x"] = TensorConversions.FromFloats(DataType.Float16, xs, [M, K]) };

        var context = Context(MeasureRanges(model, feeds));
        Assert.True(VerifiedPass.Run(new InsertQdqPass(), model, context).Modified);

        var qdq = model.Graph.Nodes.Where(n => n.OpType is "QuantizeLinear" or "DequantizeLinear").ToList();
        Assert.Equal(3, qdq.Count);
        Assert.All(qdq, n => Assert.Equal(DataType.Float16, n.Inputs[1]!.Const!.ElementType));

        // Reference: scales rounded to float16 before use, as the model stores them.
        float min = Math.Min(0, xs.Min()), max = Math.Max(0, xs.Max());
        float sx = (float)(Half)((max - min) / 255f);
        int zx = (int)Math.Clamp(Math.Round(-min / sx, MidpointRounding.ToEven), 0, 255);
        float[] wh = w.Select(v => (float)(Half)v).ToArray();
        var sw = new float[N];
        for (int i = 0; i < K * N; i++) sw[i % N] = Math.Max(sw[i % N], Math.Abs(wh[i]));
        for (int n = 0; n < N; n++) sw[n] = (float)(Half)(sw[n] / 127f);
        var expected = new double[M * N];
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++)
                for (int k = 0; k < K; k++)
                    expected[m * N + n] += FakeQuant(xs[m * K + k], sx, zx, 0, 255) * FakeQuant(wh[k * N + n], sw[n], 0, -127, 127);
        var y = NumericAssert.Run(model, feeds)["y"];
        Assert.Equal(DataType.Float16, y.ElementType);
        // One activation step, plus float16 rounding of the products and of the output (2^-10 relative).
        WithinStep(expected, y, sx * wh.Max(Math.Abs) + 2e-3 * expected.Max(Math.Abs), "y");
    }

    [Fact]
    public void FusionAudit_OnAFloat16QdqModel_ReportsWhatOrtCpuFuses()
    {
        using var model = MatMulModel(RandomFloats(23, K * N, -1, 1));
        var feeds = new Dictionary<string, Tensor> { ["x"] = TensorConversions.FromFloats(DataType.Float16, RandomFloats(24, M * K, -2, 3), [M, K]) };
        var context = Context(MeasureRanges(model, feeds));
        VerifiedPass.Run(new InsertQdqPass(), model, context);

        var report = FusionAudit.Run(model);
        // ONNX Runtime 1.31's CPU QDQ fusions take float32 DequantizeLinear outputs only: a float16 QDQ MatMul keeps
        // its DequantizeLinear nodes and runs in float16 (what the pass counts as float16-unfused).
        Assert.Equal(0, report.IntegerKernels.Values.Sum());
        Assert.NotEmpty(report.UnfusedOnComputePath);
        Assert.Equal(1, context.Counters["float16-unfused"]);
    }
}
