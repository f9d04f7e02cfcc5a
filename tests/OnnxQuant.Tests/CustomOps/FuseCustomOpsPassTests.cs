using OnnxQuant.Ir;
using OnnxQuant.Ir.Building;
using OnnxQuant.Passes;
using OnnxQuant.Passes.CustomOps;
using OnnxQuant.Runtime;
using OnnxQuant.Runtime.Kernels;
using OnnxQuant.Tests.Fusion;
using OnnxQuant.Tests.Kernels;
using OnnxQuant.Tests.Support;

namespace OnnxQuant.Tests.CustomOps;

/// <summary>
/// fuse-custom-ops: structure (op counts, the com.onnxquant import), numerics in ONNX Runtime (the fused graph, run
/// with the kernel library registered automatically, against the float decomposition within the per-token rounding
/// bound), and must-not-fire cases with their recorded reasons.
/// </summary>
public class FuseCustomOpsPassTests
{
    private const int Rows = 7, K = 96, N = 40, Block = 32;

    private static float[] RunY(Model model, float[] a) =>
        ModelRunner.RunOnce(model, new Dictionary<string, Tensor> { ["a"] = Tensor.FromFloats(a, Rows, K) })["y"].AsSpan<float>().ToArray();

    private static int Count(Model m, string op) => m.Graph.AllNodes().Count(n => n.OpType == op);

    [Fact]
    public void MatMulNBits4Bit_BecomesMatMulW4A8_WithinThePerTokenBoundOfTheFloatDecomposition()
    {
        var w = KernelTestModels.RandomW4A8(seed: 3, K, N, Block, zeroPoints: true, bias: true);
        using var model = KernelTestModels.W4A8Model(w, "MatMulNBits", "com.microsoft", accuracyLevel: 0);
        var a = KernelTestModels.RandomActivations(seed: 4, Rows, K);
        var context = new PassContext();

        Assert.True(VerifiedPass.Run(new FuseCustomOpsPass(), model, context).Modified);

        Assert.Equal(0, Count(model, "MatMulNBits"));
        Assert.Equal(1, Count(model, "MatMulW4A8"));
        Assert.Equal(KernelLibrary.Version, model.GetOpset(KernelLibrary.Domain));
        Assert.Equal(1, context.Counters["w4a8"]);
        Assert.True(KernelLibrary.IsUsedBy(model));
        PerTokenReference.AssertWithinBound(a, Rows, K, N, w.Weight, w.Bias, RunY(model, a));
    }

    [Fact]
    public void MatMulNBits8Bit_BecomesMatMulW4A8With8Bits_WithinThePerTokenBound()
    {
        var w = KernelTestModels.RandomW4A8(seed: 7, K, N, Block, zeroPoints: true, bias: false, bits: 8);
        using var model = KernelTestModels.W4A8Model(w, "MatMulNBits", "com.microsoft", accuracyLevel: 0);
        var a = KernelTestModels.RandomActivations(seed: 8, Rows, K);
        var context = new PassContext();

        Assert.True(VerifiedPass.Run(new FuseCustomOpsPass(), model, context).Modified);

        var fused = Assert.Single(model.Graph.Nodes, n => n.OpType == "MatMulW4A8");
        Assert.Equal(8, fused.GetInt("bits", 4));
        Assert.Equal(0, Count(model, "MatMulNBits"));
        PerTokenReference.AssertWithinBound(a, Rows, K, N, w.Weight, null, RunY(model, a));
    }

    [Fact]
    public void AConstantAddAfterward_BecomesTheBiasInput()
    {
        var w = KernelTestModels.RandomW4A8(seed: 5, K, N, Block, zeroPoints: false, bias: false) with { Bias = null };
        var bias = Enumerable.Range(0, N).Select(i => 0.01f * i - 0.2f).ToArray();
        var b = new GraphBuilder(opset: 21).Opset("com.microsoft", 1);
        var x = b.Input("a", DataType.Float, "rows", K);
        var mm = b.Op("MatMulNBits", [x, b.Constant(Tensor.FromSpan<byte>(DataType.UInt8, KernelTestModels.PackNibbles(w.Codes), [N, w.Blocks, Block / 2])),
                                       b.Constant(Tensor.FromFloats(w.Scales, N * w.Blocks))],
                      [Attribute.Int("K", K), Attribute.Int("N", N), Attribute.Int("bits", 4), Attribute.Int("block_size", Block)], "com.microsoft");
        b.Output(b.Op("Add", mm, b.Constant(Tensor.FromFloats(bias, N))), "y");
        using var model = b.Build();
        var a = KernelTestModels.RandomActivations(seed: 6, Rows, K);
        var context = new PassContext();

        VerifiedPass.Run(new FuseCustomOpsPass(), model, context);

        Assert.Equal(0, Count(model, "Add"));
        var fused = Assert.Single(model.Graph.Nodes, n => n.OpType == "MatMulW4A8");
        Assert.Equal(5, fused.Inputs.Count);
        Assert.Equal(1, context.Counters["bias-folded"]);
        PerTokenReference.AssertWithinBound(a, Rows, K, N, w.Weight, bias, RunY(model, a));
    }

    /// <summary>x → Q → DQ read by two MatMuls with int8 per-column weights (as Q, K, V projections share one).</summary>
    private static (Model Model, KernelTestModels.W8A8Weights W1, KernelTestModels.W8A8Weights W2) QdqModel(float activationScale, sbyte weightZero = 0, bool firstPerRow = false)
    {
        var w1 = KernelTestModels.RandomW8A8(seed: 1, K, N, perTensor: false, bias: false);
        var w2 = KernelTestModels.RandomW8A8(seed: 2, K, N, perTensor: true, bias: false);
        var b = new GraphBuilder(opset: 21);
        var x = b.Input("a", DataType.Float, "rows", K);
        var scale = b.Constant(Tensor.FromFloats([activationScale]));
        var zero = b.Constant(Tensor.FromSpan<byte>(DataType.UInt8, [(byte)128], []));
        var dq = b.Op("DequantizeLinear", b.Op("QuantizeLinear", x, scale, zero), scale, zero);
        Value Weight(KernelTestModels.W8A8Weights w, bool perRow = false)
        {
            int count = perRow ? K : w.Scales.Length;
            long[] dims = count == 1 ? [] : [count];
            return b.Op("DequantizeLinear",
                [b.Constant(Tensor.FromSpan<sbyte>(DataType.Int8, w.Codes, [K, N])), b.Constant(Tensor.FromFloats(perRow ? Enumerable.Repeat(w.Scales[0], count).ToArray() : w.Scales, dims)),
                 b.Constant(Tensor.FromSpan<sbyte>(DataType.Int8, Enumerable.Repeat(weightZero, count).ToArray(), dims))],
                count == 1 ? [] : [Attribute.Int("axis", perRow ? 0 : 1)]);
        }
        var y1 = b.Op("MatMul", dq, Weight(w1, firstPerRow));
        var y2 = b.Op("MatMul", dq, Weight(w2));
        b.Output(b.Op("Add", y1, y2), "y");
        return (b.Build(), w1, w2);
    }

    [Fact]
    public void QdqMatMuls_SharingOneActivationQdq_BothBecomeMatMulW8A8_AndTheQdqGoes()
    {
        var a = KernelTestModels.RandomActivations(seed: 8, Rows, K);
        float amax = a.Max(MathF.Abs);
        var (model, w1, w2) = QdqModel(amax / 127f);
        using var _ = model;
        var context = new PassContext();

        VerifiedPass.Run(new FuseCustomOpsPass(), model, context);

        Assert.Equal(2, Count(model, "MatMulW8A8"));
        Assert.Equal(0, Count(model, "QuantizeLinear") + Count(model, "DequantizeLinear") + Count(model, "MatMul"));
        Assert.Equal(2, context.Counters["w8a8"]);
        // y = a·(W1 + W2): one bound per MatMul, added.
        PerTokenReference.AssertWithinBound(a, Rows, K, N, (n, k) => w1.Weight(n, k) + w2.Weight(n, k), null, RunY(model, a));
    }

    [Fact]
    public void DoesNotFire_OnMatMulNBitsWith2Bits()
    {
        var w = KernelTestModels.RandomW4A8(seed: 3, K, N, Block, zeroPoints: false, bias: false);
        using var model = KernelTestModels.W4A8Model(w, "MatMulNBits", "com.microsoft");
        model.Graph.Nodes.Single().SetAttribute(Attribute.Int("bits", 2));
        FusionTestGraph.AssertDoesNotFire(model, new FuseCustomOpsPass(), "it has 2 bits (MatMulW4A8 takes 4 or 8)");
        Assert.Null(model.GetOpset(KernelLibrary.Domain));
    }

    [Fact]
    public void DoesNotFire_WhenTheWeightZeroPointIsNotZero()
    {
        var (model, _, _) = QdqModel(0.01f, weightZero: 3);
        using var _m = model;
        FusionTestGraph.AssertDoesNotFire(model, new FuseCustomOpsPass(), "its weight zero point is not 0");
        Assert.Equal(2, Count(model, "MatMul"));
    }

    [Fact]
    public void DoesNotFire_WhenTheWeightIsQuantizedPerRow()
    {
        var (model, _, _) = QdqModel(0.01f, firstPerRow: true);
        using var _m = model;
        var context = new PassContext();
        VerifiedPass.Run(new FuseCustomOpsPass(), model, context);  // the second MatMul (per tensor) fuses
        Assert.Contains(FusionTestGraph.Reasons(context), r => r.Contains("neither per tensor nor per output column", StringComparison.Ordinal));
        Assert.Equal(1, Count(model, "MatMul"));
        Assert.Equal(1, Count(model, "MatMulW8A8"));
    }

    [Fact]
    public void ASecondRun_ChangesNothing()
    {
        var w = KernelTestModels.RandomW4A8(seed: 3, K, N, Block, zeroPoints: false, bias: true);
        using var model = KernelTestModels.W4A8Model(w, "MatMulNBits", "com.microsoft");
        VerifiedPass.Run(new FuseCustomOpsPass(), model, new PassContext());
        Assert.False(VerifiedPass.Run(new FuseCustomOpsPass(), model, new PassContext()).Modified);
    }

    [Fact]
    public void AFusedModelFile_IsRecognizedFromItsOpsetImports_AndRunsWithoutAnyOption()
    {
        var w = KernelTestModels.RandomW4A8(seed: 9, K, N, Block, zeroPoints: false, bias: true);
        using var model = KernelTestModels.W4A8Model(w, "MatMulNBits", "com.microsoft");
        using var scratch = new ScratchFolder("custom-ops");
        string before = scratch.File("before.onnx"), after = scratch.File("after.onnx");
        OnnxQuant.Ir.Serialization.OnnxWriter.Write(model, before);
        VerifiedPass.Run(new FuseCustomOpsPass(), model, new PassContext());
        OnnxQuant.Ir.Serialization.OnnxWriter.Write(model, after);

        Assert.False(KernelLibrary.IsUsedBy(before));
        Assert.True(KernelLibrary.IsUsedBy(after));
        var a = KernelTestModels.RandomActivations(seed: 10, Rows, K);
        using var runner = ModelRunner.FromFile(after);
        var y = runner.Run(new Dictionary<string, Tensor> { ["a"] = Tensor.FromFloats(a, Rows, K) })["y"].AsSpan<float>().ToArray();
        Assert.Equal(RunY(model, a), y);
    }
}
