using OnnxQuant.Ir;
using OnnxQuant.Ir.Building;
using OnnxQuant.Passes.Quantization;
using OnnxQuant.Passes.Quantization.Rounding;
using OnnxQuant.Tests.Support;
using static OnnxQuant.Tests.Quantization.QdqTestKit;

namespace OnnxQuant.Tests.Quantization;

/// <summary>
/// insert-qdq's <c>weights: float</c>: the activations get the same Q/DQ as with quantized weights, the weights and
/// biases stay the float constants they were, and ONNX Runtime computes the float layer on the fake-quantized input;
/// and the one-line refusals of the options that need calibration (gptq with float weights, weight-clip-search).
/// </summary>
public class FloatWeightsTests
{
    private const int M = 12, K = 24, N = 6;
    private const float CalibMin = -1.25f, CalibMax = 2f;

    private static (Model Model, Dictionary<string, Tensor> Feeds, float[] W, float[] Bias) GemmWithBias()
    {
        var w = RandomFloats(11, K * N, -1, 1);
        var bias = RandomFloats(12, N, -0.5f, 0.5f);
        var b = new GraphBuilder(opset: 21);
        var x = b.Input("x", DataType.Float, M, K);
        var y = b.Op("Gemm", [x, b.Constant(Tensor.FromFloats(w, K, N), "w"), b.Constant(Tensor.FromFloats(bias, N), "bias")], name: "gemm");
        b.Output(y, "y", DataType.Float, M, N);
        var feeds = new Dictionary<string, Tensor> { ["x"] = Tensor.FromFloats(RandomFloats(13, M * K, -2, 3), M, K) };
        return (b.Build(), feeds, w, bias);
    }

    private static DictionaryRanges Calibrated()
    {
        var ranges = new DictionaryRanges();
        ranges.Ranges["x"] = (CalibMin, CalibMax);
        return ranges;
    }

    [Fact]
    public void FloatWeights_KeepWeightAndBias_AndQuantizeTheInputAsWithQuantizedWeights()
    {
        var (model, feeds, w, bias) = GemmWithBias();
        using var _ = model;
        var (quantized, _, _, _) = GemmWithBias();
        using var __ = quantized;
        var options = new InsertQdqOptions { ActivationBits = 4 };
        VerifiedPass.Run(new InsertQdqPass(), quantized, options, Context(Calibrated()));
        var context = Context(Calibrated());

        VerifiedPass.Run(new InsertQdqPass(), model, new InsertQdqOptions { ActivationBits = 4, Weights = QdqWeights.Float }, context);

        var gemm = model.Graph.Nodes.Single(n => n.OpType == "Gemm");
        Assert.Equal(w, gemm.Inputs[1]!.Const!.ToFloatArray());
        Assert.Equal(bias, gemm.Inputs[2]!.Const!.ToFloatArray());
        Assert.Equal(1, context.Counters.GetValueOrDefault("float-weights"));
        Assert.Equal(0, context.Counters.GetValueOrDefault("weights"));
        // One Q/DQ pair, the activation's, with the parameters the quantized-weight model gives it.
        var q = model.Graph.Nodes.Single(n => n.OpType == "QuantizeLinear");
        Assert.Single(model.Graph.Nodes, n => n.OpType == "DequantizeLinear");
        var qRef = quantized.Graph.Nodes.Single(n => n.OpType == "QuantizeLinear");
        Assert.Equal(qRef.Inputs[1]!.Const!.ToFloatArray(), q.Inputs[1]!.Const!.ToFloatArray());
        Assert.Equal(qRef.Inputs[2]!.Const!.ToDoubleArray(), q.Inputs[2]!.Const!.ToDoubleArray());
        Assert.Equal(3, Count(quantized, "DequantizeLinear"));   // input, weight, bias

        // y = fake-quant(x)·W + b, the 16 codes [0, 15] of the emulated width, computed here in double.
        float s = q.Inputs[1]!.Const!.ToFloatArray()[0];
        int z = (int)q.Inputs[2]!.Const!.ToDoubleArray()[0];
        var x = feeds["x"].ToFloatArray();
        var expected = new double[M * N];
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++)
            {
                double sum = bias[n];
                for (int k = 0; k < K; k++) sum += FakeQuant(x[m * K + k], s, z, 0, 15) * w[k * N + n];
                expected[m * N + n] = sum;
            }
        var y = NumericAssert.Run(model, feeds)["y"].ToFloatArray();
        for (int i = 0; i < y.Length; i++) Assert.True(Math.Abs(y[i] - expected[i]) < 1e-4, $"y[{i}] = {y[i]}, reference {expected[i]}");
    }

    [Fact]
    public void WeightClipSearch_WithoutACalibrateStep_IsRefusedInOneLine()
    {
        var (model, _, _, _) = GemmWithBias();
        using var _ = model;
        var e = Assert.Throws<OnnxQuantException>(() => VerifiedPass.Run(new InsertQdqPass(), model,
            new InsertQdqOptions { WeightBits = 4, WeightClipSearch = true }, Context(Calibrated())));
        Assert.Contains("weight-clip-search reads each layer's calibrated XᵀX", e.Message);
        Assert.DoesNotContain("\n", e.Message);
    }

    [Fact]
    public void FloatWeights_WithGptqRounding_IsRefusedInOneLine()
    {
        var (model, _, _, _) = GemmWithBias();
        using var _ = model;
        var e = Assert.Throws<OnnxQuantException>(() => VerifiedPass.Run(new InsertQdqPass(), model,
            new InsertQdqOptions { Weights = QdqWeights.Float, Rounding = WeightRounding.Gptq }, Context(Calibrated())));
        Assert.Contains("weights: float", e.Message);
        Assert.Contains("rounding is gptq", e.Message);
        Assert.DoesNotContain("\n", e.Message);
        Assert.DoesNotContain(model.Graph.Nodes, n => n.OpType == "QuantizeLinear");
    }
}
