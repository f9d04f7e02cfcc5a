using OnnxQuant.Cli;
using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Passes;
using OnnxQuant.Passes.CustomOps;
using OnnxQuant.Passes.Numerics;
using OnnxQuant.Runtime;
using OnnxQuant.Runtime.Kernels;
using OnnxQuant.Tests.Cli;
using OnnxQuant.Tests.Fusion;
using OnnxQuant.Tests.Support;

namespace OnnxQuant.Tests.CustomOps;

/// <summary>
/// fuse-custom-ops on rotate's online Hadamard: MatMul(x, H/√D) becomes com.onnxquant.HadamardTransform, equal to the
/// MatMul in ORT within float summation error, for powers of two and K·2^m orders and either orientation of C;
/// must-not-fire cases with their reasons; and the w4a8-rotated-fast preset end to end.
/// </summary>
public sealed class FuseHadamardMatMulTests : IDisposable
{
    private readonly ScratchFolder _folder = new("hadamard-fusion");

    public void Dispose() => _folder.Dispose();

    private static Model MatMulModel(float[] c, int order)
    {
        var g = new FusionTestGraph(opset: 21);
        var x = g.Input("x", 3, 5, order);
        g.Output(g.Op("MatMul", x, g.Const(c, order, order)));
        return g.Model;
    }

    private static float[] ScaledHadamard(int order, bool transposed)
    {
        var h = Hadamard.ForOrder(order);
        float scale = (float)(1 / Math.Sqrt(order));
        var c = new float[order * order];
        for (int i = 0; i < order; i++)
            for (int j = 0; j < order; j++)
                c[i * order + j] = (transposed ? h[j, i] : h[i, j]) * scale;
        return c;
    }

    [Theory]
    [InlineData(64, false)]
    [InlineData(48, false)]   // 12·4: H_12 is not symmetric, so the orientation matters
    [InlineData(48, true)]
    [InlineData(768, false)]  // 12·64, ViT-B's width
    [InlineData(80, true)]    // 20·4
    public void TheOnlineHadamardMatMul_BecomesHadamardTransform_EqualWithinFloatRounding(int order, bool transposed)
    {
        using var model = MatMulModel(ScaledHadamard(order, transposed), order);
        var context = new PassContext();
        var feeds = SampleInputs.ForModel(model, seed: order);

        FusionTestGraph.RunAndCompare(model, new FuseCustomOpsPass(), 1e-5, feeds, context);

        var node = Assert.Single(model.Graph.Nodes);
        Assert.Equal(("HadamardTransform", KernelLibrary.Domain), (node.OpType, node.Domain));
        Assert.Equal(1, context.Counters["hadamard"]);
        Assert.Equal(Hadamard.Decompose(order).BaseOrder > 1 ? 2 : 1, node.Inputs.Count(i => i is not null));
    }

    [Fact]
    public void DoesNotFire_WhenOneEntryIsNotPlusOrMinusTheScale()
    {
        var c = ScaledHadamard(64, transposed: false);
        c[5] *= 1.0001f;
        using var model = MatMulModel(c, 64);
        FusionTestGraph.AssertDoesNotFire(model, new FuseCustomOpsPass(), "its constant is not a normalized Hadamard matrix");
    }

    [Fact]
    public void DoesNotFire_WhenTheSignsAreNotThoseOfTheHadamardMatrix()
    {
        var c = ScaledHadamard(64, transposed: false);
        c[64 + 3] = -c[64 + 3];
        using var model = MatMulModel(c, 64);
        FusionTestGraph.AssertDoesNotFire(model, new FuseCustomOpsPass(), "its constant is not a normalized Hadamard matrix");
    }

    [Fact]
    public void DoesNotFire_OnAnOrderWithoutAHadamardMatrix()
    {
        using var model = MatMulModel(Enumerable.Repeat(0.5f, 36).ToArray(), 6);
        FusionTestGraph.AssertDoesNotFire(model, new FuseCustomOpsPass(), "order 6 has no Hadamard matrix");
    }

    [Fact]
    public void W4A8RotatedFast_RunsTheOnlineHadamardsInTheKernel_AndAgreesWithW4A8Rotated()
    {
        string vit = _folder.File("vit.onnx"), standard = _folder.File("std.onnx"), fast = _folder.File("fast.onnx");
        Assert.Equal(ExitCodes.Success, Onnxquant.Run("generate", "vit-tiny", vit, "--seed", "3").ExitCode);
        foreach (var (recipe, output) in new[] { ("w4a8-rotated", standard), ("w4a8-rotated-fast", fast) })
        {
            var q = Onnxquant.Run(vit, output, "--recipe", recipe, "--data", "random", "--count", "4", "--shape", "pixel_values=1,3,32,32", "--seed", "7");
            Assert.True(q.ExitCode == ExitCodes.Success, q.ToString());
        }
        int onlineHadamards;
        using (var model = OnnxReader.Read(standard))
            onlineHadamards = model.Graph.Nodes.Count(n => n.OpType == "MatMul" && (n.Name ?? "").Contains("_hadamard", StringComparison.Ordinal));
        Assert.True(onlineHadamards > 0, "w4a8-rotated wrote no online Hadamard MatMul: the test would prove nothing");
        using (var model = OnnxReader.Read(fast))
        {
            // Each online Hadamard is a HadamardTransform node, or folded into the quantized matmul that alone reads it.
            int standalone = model.Graph.Nodes.Count(n => n.OpType == "HadamardTransform" && n.Domain == KernelLibrary.Domain);
            int folded = model.Graph.Nodes.Count(n => n.Domain == KernelLibrary.Domain && n.GetInt("hadamard", 0) == 1);
            Assert.Equal(onlineHadamards, standalone + folded);
            Assert.True(folded > 0, "no online Hadamard was folded into the matmul after it");
            Assert.DoesNotContain(model.Graph.Nodes, n => n.OpType == "MatMul" && (n.Name ?? "").Contains("_hadamard", StringComparison.Ordinal));
        }
        using var a = OnnxReader.Read(standard);
        using var b = OnnxReader.Read(fast);
        var feeds = SampleInputs.ForModel(a, seed: 11);
        var ya = ModelRunner.RunOnce(a, feeds).Values.First().AsSpan<float>().ToArray();
        var yb = ModelRunner.RunOnce(b, feeds).Values.First().AsSpan<float>().ToArray();
        // Per-token instead of per-block activation rounding (MatMulW4A8) is the only difference that is not float
        // summation order: the logits stay within a few percent of their range.
        double range = ya.Max(Math.Abs), worst = ya.Zip(yb, (p, q) => Math.Abs(p - q)).Max();
        Assert.True(worst <= 0.1 * range, $"max |Δ| {worst} vs max |y| {range}");
    }
}
