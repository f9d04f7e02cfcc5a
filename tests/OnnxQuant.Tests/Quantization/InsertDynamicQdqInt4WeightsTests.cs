using OnnxQuant.Ir;
using OnnxQuant.Ir.Building;
using OnnxQuant.Passes;
using OnnxQuant.Passes.Quantization;
using OnnxQuant.Tests.Support;
using static OnnxQuant.Tests.Quantization.QdqTestKit;

namespace OnnxQuant.Tests.Quantization;

/// <summary>insert-dynamic-qdq with <c>weight-bits: 4</c>: int4 codes stored as int4, cast to int8 for MatMulInteger.</summary>
public class InsertDynamicQdqInt4WeightsTests
{
    private static InsertDynamicQdqPass Pass => new();

    [Fact]
    public void StoresInt4Codes_CastToInt8_AndMatchesTheInt4Reference()
    {
        const int M = 6, K = 32, N = 8;
        var b = new GraphBuilder(opset: 21);
        var x = b.Input("x", DataType.Float, M, K);
        float[] w = RandomFloats(21, K * N, -1, 1);
        float[] bias = RandomFloats(22, N, -1, 1);
        var wt = new float[N * K]; // Gemm B with transB: [N, K]
        for (int k = 0; k < K; k++)
            for (int n = 0; n < N; n++) wt[n * K + k] = w[k * N + n];
        b.Output(b.Op("MatMul", x, b.Constant(Tensor.FromFloats(w, K, N), "w")), "y1", DataType.Float, M, N);
        var y2 = b.Op("Gemm", [x, b.Constant(Tensor.FromFloats(wt, N, K), "wt"), b.Constant(Tensor.FromFloats(bias, N), "bias")],
            [Attribute.Int("transB", 1)]);
        b.Output(y2, "y2", DataType.Float, M, N);
        using var model = b.Build();
        float[] xs = RandomFloats(23, M * K, -2, 3);
        var feeds = new Dictionary<string, Tensor> { ["x"] = Tensor.FromFloats(xs, M, K) };

        var options = new InsertDynamicQdqOptions { WeightBits = 4 };
        Assert.True(VerifiedPass.Run(Pass, model, options, new PassContext()).Modified);

        // Both weights are int4 initializers (one per weight), read through a Cast to int8; no int8 or float copy stays.
        var int4 = model.Graph.Constants.Where(c => c.Const!.ElementType == DataType.Int4).ToList();
        Assert.Equal(2, int4.Count);
        Assert.All(int4, c => Assert.Equal("Cast", Assert.Single(c.Uses).Node.OpType));
        Assert.DoesNotContain(model.Graph.Constants, c => c.Const!.ElementType is DataType.Int8 or DataType.Float && c.Const.ElementCount == K * N);

        // Reference: x dynamically quantized (uint8, per tensor), weights symmetric int4 per column in [−7, 7].
        float min = Math.Min(0, xs.Min()), max = Math.Max(0, xs.Max());
        float sx = (max - min) / 255f;
        int zx = (int)Math.Clamp(Math.Round(-min / sx, MidpointRounding.ToEven), 0, 255);
        var xq = xs.Select(v => (int)Math.Clamp(Math.Round(v / sx, MidpointRounding.ToEven) + zx, 0, 255)).ToArray();
        var sw = new float[N];
        for (int i = 0; i < K * N; i++) sw[i % N] = Math.Max(sw[i % N], Math.Abs(w[i]));
        for (int n = 0; n < N; n++) sw[n] /= 7f;
        var outputs = NumericAssert.Run(model, feeds);
        foreach (var (name, withBias) in new[] { ("y1", false), ("y2", true) })
        {
            var actual = outputs[name].ToFloatArray();
            var expected = new double[M * N];
            for (int m = 0; m < M; m++)
                for (int n = 0; n < N; n++)
                {
                    long acc = 0;
                    for (int k = 0; k < K; k++)
                    {
                        int q = (int)Math.Clamp(Math.Round(w[k * N + n] / sw[n], MidpointRounding.ToEven), -7, 7);
                        acc += (xq[m * K + k] - zx) * (long)q;
                    }
                    expected[m * N + n] = acc * (double)(sx * sw[n]) + (withBias ? bias[n] : 0);
                }
            double tolerance = 1e-5 * expected.Max(Math.Abs);
            for (int i = 0; i < actual.Length; i++)
                Assert.True(Math.Abs(actual[i] - expected[i]) <= tolerance, $"{name}[{i}]: ORT {actual[i]}, reference {expected[i]}.");
        }
    }

    [Fact]
    public void Int4WeightsBelowOpset21_AreRefusedWithTheFix()
    {
        using var model = OneMatMul(opset: 17);
        var e = Assert.Throws<OnnxQuantException>(() => VerifiedPass.Run(Pass, model, new InsertDynamicQdqOptions { WeightBits = 4 }, new PassContext()));
        Assert.Contains("opset >= 21", e.Message);
        Assert.Contains("upgrade-opset", e.Message);
    }

    [Fact]
    public void OtherWeightBits_AreRefused()
    {
        using var model = OneMatMul(opset: 21);
        var e = Assert.Throws<OnnxQuantException>(() => VerifiedPass.Run(Pass, model, new InsertDynamicQdqOptions { WeightBits = 6 }, new PassContext()));
        Assert.Contains("weight-bits is 6", e.Message);
    }

    [Fact]
    public void GptqRounding_WithoutCalibration_SaysToCalibrateFirst()
    {
        using var model = OneMatMul(opset: 21);
        var e = Assert.Throws<OnnxQuantException>(() => VerifiedPass.Run(Pass, model,
            new InsertDynamicQdqOptions { WeightBits = 4, Rounding = Passes.Quantization.Rounding.WeightRounding.Gptq }, new PassContext()));
        Assert.Contains("calibrate", e.Message);
    }

    /// <summary>x [2, 4] · a constant 4×4 weight: the smallest graph the pass quantizes.</summary>
    private static Model OneMatMul(int opset)
    {
        var b = new GraphBuilder(opset: opset);
        var x = b.Input("x", DataType.Float, 2, 4);
        b.Output(b.Op("MatMul", x, b.Constant(Tensor.FromFloats(RandomFloats(1, 16, -1, 1), 4, 4), "w")), "y", DataType.Float, 2, 4);
        return b.Build();
    }
}
