using OnnxQuant.Ir;
using OnnxQuant.Ir.Building;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Passes;
using OnnxQuant.Passes.CustomOps;
using OnnxQuant.Runtime.Calibration;
using OnnxQuant.Runtime.Kernels;
using OnnxQuant.Tests.Fusion;
using OnnxQuant.Tests.Support;
using static OnnxQuant.Tests.Quantization.WeightOnly.WeightOnlyTestKit;

namespace OnnxQuant.Tests.CustomOps;

/// <summary>
/// fuse-custom-ops on GPTQT's standard-ONNX binary-coded decomposition: the MatMul becomes BcqMatMul with packed sign
/// planes, the decomposition and its 4-bit codes go (the file shrinks), and ONNX Runtime computes the same product
/// as the unfused graph within float summation error; must-not-fire cases with their reasons.
/// </summary>
public class FuseBinaryCodedWeightsTests
{
    private const int M = 4, N = 40, Samples = 16;

    /// <summary>x [M, K] · w [K, N] quantized by quantize-weights {rounding: gptqt} (the float decomposition).</summary>
    private static Model Quantized(int planes, int group, int k, ScratchFolder folder)
    {
        var random = new Random(planes * 100 + k);
        float[] w = Enumerable.Range(0, k * N).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        var calibration = Enumerable.Range(0, Samples).Select(_ => Enumerable.Range(0, M * k).Select(i => (float)((random.NextDouble() - 0.5) * (1 + i % k % 3))).ToArray());
        var b = new GraphBuilder(opset: 21);
        var x = b.Input("x", DataType.Float, M, k);
        b.Output(b.Op("MatMul", [x, b.Constant(Tensor.FromFloats(w, k, N), "w")], name: "mm"), "y", DataType.Float, M, N);
        using var model = b.Build();
        string recipe = "name: t\npasses:\n  - calibrate\n" +
            $"  - quantize-weights: {{bits: {planes}, block-size: {group}, rounding: gptqt, gptqt-linear-bits: {planes + 2}, gptq-act-order: true, format: dq, lm-head: {planes}}}\n";
        Quantizer.Quantize(model, folder.File("q.onnx"), new QuantizeOptions
        {
            Recipe = RecipeSource.Yaml(recipe),
            Calibration = CalibrationData.FromSamples(calibration.Select(v => new Dictionary<string, Tensor> { ["x"] = Tensor.FromFloats(v, M, k) })),
        });
        return OnnxReader.Read(folder.File("q.onnx"));
    }

    private static long ConstantBytes(Model m) => m.Graph.Constants.Sum(c => c.Const!.ByteLength);

    [Theory]
    [InlineData(2, 64, 128)]
    [InlineData(3, 32, 80)]      // K not a multiple of the block: the decomposition slices the last block
    [InlineData(4, 16, 40)]
    public void TheGptqtDecomposition_BecomesBcqMatMul_SmallerAndWithinFloatSummationError(int planes, int group, int k)
    {
        using var folder = new ScratchFolder();
        using var model = Quantized(planes, group, k, folder);
        var random = new Random(7);
        var feeds = new Dictionary<string, Tensor> { ["x"] = Tensor.FromFloats(Enumerable.Range(0, M * k).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray(), M, k) };
        var before = NumericAssert.Run(model, feeds)["y"].ToFloatArray();
        long bytesBefore = ConstantBytes(model);
        var context = new PassContext();

        Assert.True(VerifiedPass.Run(new FuseCustomOpsPass(), model, context).Modified);

        var node = Assert.Single(model.Graph.Nodes);
        Assert.Equal(("BcqMatMul", KernelLibrary.Domain), (node.OpType, node.Domain));
        Assert.Equal(planes, node.GetInt("planes", 0));
        Assert.Equal(group, node.GetInt("block_size", 0));
        Assert.Equal(1, context.Counters["bcq"]);
        Assert.Equal(KernelLibrary.Version, model.GetOpset(KernelLibrary.Domain));
        // p bits per weight in the planes instead of 4 in the uint4 codes; the per-block floats are the same count.
        int blocks = (k + group - 1) / group;
        long expectedBytes = (long)N * planes * ((k + 7) / 8) + 4L * N * blocks * (planes + 1);
        Assert.Equal(expectedBytes, ConstantBytes(model));
        Assert.True(ConstantBytes(model) < bytesBefore, $"{ConstantBytes(model)} bytes after, {bytesBefore} before");

        var after = NumericAssert.Run(model, feeds)["y"].ToFloatArray();
        // Both are float products with the same weights up to one rounding of each offset: 1e-5 of Σ|x|·|ŵ|.
        var x = feeds["x"].ToFloatArray();
        double[] w = Decoded(node, k);
        var (_, magnitude) = Product(x, w, M, k, N);
        for (int i = 0; i < before.Length; i++)
            Assert.True(Math.Abs(before[i] - after[i]) <= 1e-5 * magnitude[i], $"y[{i}]: decomposition {before[i]}, BcqMatMul {after[i]} (Σ|x·w| {magnitude[i]:g3})");
        Assert.Contains(before, v => v != 0);
    }

    /// <summary>Ŵ [K, N] decoded from the fused node's constants (c + Σ α·±1).</summary>
    private static double[] Decoded(Node node, int k)
    {
        var planes = ConstantNode.ConstantOf(node.Inputs[1]!)!.AsSpan<byte>().ToArray();
        var alphas = ConstantNode.ConstantOf(node.Inputs[2]!)!.ToFloatArray();
        var offsets = ConstantNode.ConstantOf(node.Inputs[3]!)!.ToFloatArray();
        int p = (int)node.GetInt("planes", 0), bs = (int)node.GetInt("block_size", 0), blocks = (k + bs - 1) / bs, groups = (k + 7) / 8;
        var w = new double[k * N];
        for (int c = 0; c < N; c++)
            for (int kk = 0; kk < k; kk++)
            {
                int b = kk / bs;
                double v = offsets[c * blocks + b];
                for (int i = 0; i < p; i++)
                    v += (((planes[(c * p + i) * groups + kk / 8] >> (kk % 8)) & 1) != 0 ? 1 : -1) * (double)alphas[(c * blocks + b) * p + i];
                w[kk * N + c] = v;
            }
        return w;
    }

    [Fact]
    public void DoesNotFire_WhenTheModIsNotFmodBy2()
    {
        using var folder = new ScratchFolder();
        using var model = Quantized(2, 32, 64, folder);
        model.Graph.Nodes.Single(n => n.OpType == "Mod").SetAttribute(Attribute.Int("fmod", 0));
        FusionTestGraph.AssertDoesNotFire(model, new FuseCustomOpsPass(), "its Mod is not fmod by 2");
        Assert.Null(model.GetOpset(KernelLibrary.Domain));
    }

    [Fact]
    public void DoesNotFire_OnAFloatWeight()
    {
        var b = new GraphBuilder(opset: 21);
        var x = b.Input("x", DataType.Float, M, 16);
        b.Output(b.Op("MatMul", x, b.Constant(Tensor.FromFloats(new float[16 * N], 16, N))), "y");
        using var model = b.Build();
        FusionTestGraph.AssertDoesNotFire(model, new FuseCustomOpsPass(), "its weight is not a binary-coded decomposition (no final Add)");
    }
}
