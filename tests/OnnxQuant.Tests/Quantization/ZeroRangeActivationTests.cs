using OnnxQuant.Ir;
using OnnxQuant.Ir.Building;
using OnnxQuant.Passes;
using OnnxQuant.Passes.Quantization;
using OnnxQuant.Tests.Support;
using static OnnxQuant.Tests.Quantization.QdqTestKit;

namespace OnnxQuant.Tests.Quantization;

/// <summary>An activation that was exactly 0 on every calibration sample (a dead ReLU, a masked input).</summary>
public class ZeroRangeActivationTests
{
    [Fact]
    public void AnAllZeroActivation_GetsScaleOne_WithAWarning_AndRunTimeValuesSurvive()
    {
        const int K = 16, N = 4;
        var b = new GraphBuilder(opset: 17);
        var x = b.Input("x", DataType.Float, 1, K);
        float[] w = RandomFloats(201, K * N, -1, 1);
        b.Output(b.Op("MatMul", x, b.Constant(Tensor.FromFloats(w, K, N), "w")), "y", DataType.Float, 1, N);
        using var model = b.Build();
        var ranges = new DictionaryRanges();
        ranges.Ranges["x"] = (0, 0);
        var logs = new List<string>();
        var context = new PassContext(log: logs.Add);
        context.SetAnalysis<IActivationRanges>(ranges);

        Assert.True(VerifiedPass.Run(new InsertQdqPass(), model, context).Modified);

        var q = model.Graph.Nodes.Single(n => n.OpType == "QuantizeLinear");
        Assert.Equal(1f, q.Inputs[1]!.Const!.AsSpan<float>()[0]);
        Assert.Equal(1, context.Counters["zero-range"]);
        Assert.Single(logs, l => l.Contains("was 0 on every calibration sample", StringComparison.Ordinal));
        // Integers seen at run time pass unchanged (scale 1, zero point 0); with the old 2^-126 scale they saturated.
        float[] xs = Enumerable.Range(0, K).Select(i => (float)(i % 5)).ToArray();
        var y = NumericAssert.Run(model, new Dictionary<string, Tensor> { ["x"] = Tensor.FromFloats(xs, 1, K) })["y"].ToFloatArray();
        var (wq, _) = FakeQuantWeight(w, [K, N], 1);
        for (int n = 0; n < N; n++)
        {
            double expected = 0;
            for (int k = 0; k < K; k++) expected += xs[k] * wq[k * N + n];
            Assert.Equal(expected, y[n], 1e-4);
        }
    }
}
