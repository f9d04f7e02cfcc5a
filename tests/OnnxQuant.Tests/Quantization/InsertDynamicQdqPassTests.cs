using OnnxQuant.Ir;
using OnnxQuant.Ir.Building;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Passes;
using OnnxQuant.Passes.Quantization;
using OnnxQuant.Runtime.Audit;
using OnnxQuant.Tests.Cli;
using OnnxQuant.Tests.Support;
using static OnnxQuant.Tests.Quantization.QdqTestKit;

namespace OnnxQuant.Tests.Quantization;

public class InsertDynamicQdqPassTests
{
    /// <summary>
    /// ONNX DynamicQuantizeLinear, written from the operator spec: s = (max(x, 0) − min(x, 0)) / 255,
    /// z = saturate(round(−min(x, 0) / s)), q = saturate(round(x / s) + z), rounding half to even.
    /// </summary>
    private static (byte[] Q, float Scale, int Zero) DynamicQuantize(float[] x)
    {
        float min = Math.Min(0, x.Min()), max = Math.Max(0, x.Max());
        float scale = (max - min) / 255f;
        int zero = (int)Math.Clamp(Math.Round(-min / scale, MidpointRounding.ToEven), 0, 255);
        var q = x.Select(v => (byte)Math.Clamp(Math.Round(v / scale, MidpointRounding.ToEven) + zero, 0, 255)).ToArray();
        return (q, scale, zero);
    }

    /// <summary>Symmetric int8 per column of a row-major [K, N] matrix: (codes, scale per column).</summary>
    private static (int[] Q, float[] Scales) PerColumn(float[] w, int k, int n)
    {
        var scales = new float[n];
        for (int i = 0; i < k * n; i++) scales[i % n] = Math.Max(scales[i % n], Math.Abs(w[i]));
        for (int c = 0; c < n; c++) scales[c] /= 127f;
        var q = new int[k * n];
        for (int i = 0; i < k * n; i++) q[i] = (int)Math.Clamp(Math.Round(w[i] / scales[i % n], MidpointRounding.ToEven), -127, 127);
        return (q, scales);
    }

    [Fact]
    public void RewritesMatMulAndGemm_IntoDynamicQuantizeLinearAndMatMulInteger_MatchingTheReference_AndOrtFusesThem()
    {
        const int M = 5, K = 16, N = 8;
        var b = new GraphBuilder(opset: 17);
        var x = b.Input("x", DataType.Float, M, K);
        float[] w1 = RandomFloats(11, K * N, -1, 1);
        float[] w2t = RandomFloats(12, N * K, -0.5f, 0.5f); // Gemm B with transB: [N, K]
        float[] bias = RandomFloats(13, N, -1, 1);
        b.Output(b.Op("MatMul", x, b.Constant(Tensor.FromFloats(w1, K, N), "w1")), "y1", DataType.Float, M, N);
        var y2 = b.Op("Gemm", [x, b.Constant(Tensor.FromFloats(w2t, N, K), "w2"), b.Constant(Tensor.FromFloats(bias, N), "bias")],
            [Attribute.Int("transB", 1)]);
        b.Output(y2, "y2", DataType.Float, M, N);
        using var model = b.Build();
        float[] xs = RandomFloats(14, M * K, -2, 3);
        var feeds = new Dictionary<string, Tensor> { ["x"] = Tensor.FromFloats(xs, M, K) };

        var context = new PassContext();
        Assert.True(VerifiedPass.Run(new InsertDynamicQdqPass(), model, context).Modified);

        // One DynamicQuantizeLinear for the shared input; MatMulInteger → Cast → Mul per node, the bias as an Add.
        Assert.Equal(1, Count(model, "DynamicQuantizeLinear"));
        Assert.Equal(2, Count(model, "MatMulInteger"));
        Assert.Equal(2, Count(model, "Cast"));
        Assert.Equal(1, Count(model, "Add"));
        Assert.Equal(0, Count(model, "MatMul") + Count(model, "Gemm"));
        Assert.Equal(2, context.Counters["quantized"]);
        Assert.DoesNotContain(model.Graph.Constants, c => c.Const!.ElementType == DataType.Float && c.Const.ElementCount == K * N);

        var (xq, sx, zx) = DynamicQuantize(xs);
        var w2 = new float[K * N];
        for (int n = 0; n < N; n++)
            for (int k = 0; k < K; k++) w2[k * N + n] = w2t[n * K + k];
        var outputs = NumericAssert.Run(model, feeds);
        foreach (var (name, w, bv) in new[] { ("y1", w1, (float[]?)null), ("y2", w2, bias) })
        {
            var (wq, sw) = PerColumn(w, K, N);
            var expected = new double[M * N];
            for (int m = 0; m < M; m++)
                for (int n = 0; n < N; n++)
                {
                    long acc = 0;
                    for (int k = 0; k < K; k++) acc += (xq[m * K + k] - zx) * (long)wq[k * N + n];
                    expected[m * N + n] = acc * (double)(sx * sw[n]) + (bv?[n] ?? 0);
                }
            // The integer sum is exact; only float32 scaling and rounding differ: 1e-5 of the largest output.
            double tolerance = 1e-5 * expected.Max(Math.Abs);
            var actual = outputs[name].ToFloatArray();
            for (int i = 0; i < actual.Length; i++)
                Assert.True(Math.Abs(actual[i] - expected[i]) <= tolerance, $"{name}[{i}]: ORT {actual[i]}, reference {expected[i]}.");
        }

        var report = FusionAudit.Run(model);
        Assert.Equal(2, report.Kernels("DynamicQuantizeMatMul") + report.Kernels("MatMulIntegerToFloat"));
        Assert.Equal(0, report.Kernels("MatMulInteger"));
    }

    [Fact]
    public void LeavesFloat16Nodes_AndActivationTimesActivationMatMuls_Float()
    {
        var b = new GraphBuilder(opset: 19);
        var x = b.Input("x", DataType.Float16, 2, 4);
        var y = b.Input("y", DataType.Float, 2, 4);
        var w = TensorConversions.FromFloats(DataType.Float16, RandomFloats(1, 16, -1, 1), [4, 4]);
        b.Output(b.Op("MatMul", x, b.Constant(w, "w")), "a", DataType.Float16, 2, 4);
        b.Output(b.Op("MatMul", y, b.Op("Transpose", y)), "c", DataType.Float, 2, 2);
        using var model = b.Build();
        var context = new PassContext();

        Assert.False(VerifiedPass.Run(new InsertDynamicQdqPass(), model, context).Modified);
        Assert.Equal(1, context.Counters["skipped-float16"]);
        Assert.Equal(1, context.Counters["skipped"]);
        Assert.Equal(2, Count(model, "MatMul"));
    }

    [Fact]
    public void RefusesAModelThatIsAlreadyQuantized()
    {
        var b = new GraphBuilder(opset: 17);
        var x = b.Input("x", DataType.Float, 2, 4);
        var q = b.Op("DynamicQuantizeLinear", [x], 3);
        b.Output(q[0], "q", DataType.UInt8, 2, 4);
        using var model = b.Build();
        var e = Assert.Throws<OnnxQuantException>(() => VerifiedPass.Run(new InsertDynamicQdqPass(), model, new PassContext()));
        Assert.Contains("already quantized", e.Message);
    }

    [Fact]
    public void W8A8DynamicPreset_NeedsNoData_AndOrtRunsEveryLinearOfVitMnistAsAnIntegerKernel()
    {
        using var folder = new ScratchFolder();
        var result = Onnxquant.Run(SharedPaths.Model("vit_mnist.onnx"), folder.File("q.onnx"), "--recipe", "w8a8-dynamic");
        Assert.True(result.ExitCode == 0, result.ToString());
        using var quantized = OnnxReader.Read(folder.File("q.onnx"));
        int matMulInteger = Count(quantized, "MatMulInteger");
        Assert.True(matMulInteger > 0);
        var report = FusionAudit.Run(quantized);
        Assert.Equal(matMulInteger, report.Kernels("DynamicQuantizeMatMul") + report.Kernels("MatMulIntegerToFloat"));
    }
}
