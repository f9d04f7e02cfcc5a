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
/// fuse-custom-ops on RepQ's log√2 attention: the standard-ONNX export (Log2Export + DequantizeLinear + MatMul) becomes
/// one Log2AttnMatMul whose result equals the integer reference bit for bit and ORT's float MatMul of the export
/// within that MatMul's float rounding; must-not-fire cases with their recorded reasons.
/// </summary>
public class FuseLog2AttnMatMulTests
{
    private static float[] Run(Model model, Log2AttnReference.Case c) =>
        ModelRunner.RunOnce(model, Log2AttnReference.Feeds(c))["y"].AsSpan<float>().ToArray();

    [Theory]
    [InlineData(4, false)]
    [InlineData(6, false)]
    [InlineData(8, true)]
    public void TheExport_BecomesLog2AttnMatMul_EqualToTheExportWithinFloatRounding(int bits, bool signed)
    {
        var c = Log2AttnReference.Random(seed: 40 + bits, bits, signed);
        using var model = Log2AttnReference.ExportModel(c);
        var before = Run(model, c);
        var context = new PassContext();

        Assert.True(VerifiedPass.Run(new FuseCustomOpsPass(), model, context).Modified);

        var node = Assert.Single(model.Graph.Nodes, n => n.OpType != "Identity");
        Assert.Equal(("Log2AttnMatMul", KernelLibrary.Domain), (node.OpType, node.Domain));
        Assert.Equal(c.Quantizer.Scale, node.GetFloat("a_scale", 0));
        Assert.Equal(1, context.Counters["log2-attn"]);
        Assert.Equal(KernelLibrary.Version, model.GetOpset(KernelLibrary.Domain));
        var after = Run(model, c);
        Assert.Equal(Log2AttnReference.Expected(c), after);
        // Same codes, so the only difference is the float MatMul's rounding: at most ≈ T·2^−24 of Σ|terms|.
        var (_, magnitude) = Log2AttnReference.Definition(c);
        for (int i = 0; i < after.Length; i++)
            Assert.True(Math.Abs(after[i] - before[i]) <= c.T * Math.ScaleB(magnitude[i], -24) + 1e-30, $"element {i}: {after[i]} vs {before[i]}");
    }

    [Fact]
    public void TheAudit_ListsTheFusedOp_AsAnIntegerKernel()
    {
        var c = Log2AttnReference.Random(seed: 5, bits: 4, signed: false);
        using var model = Log2AttnReference.ExportModel(c);
        VerifiedPass.Run(new FuseCustomOpsPass(), model, new PassContext());
        var report = OnnxQuant.Runtime.Audit.FusionAudit.Run(model);
        Assert.Equal(1, report.Kernels("com.onnxquant.Log2AttnMatMul"));
        Assert.Contains(report.Lines(), l => l.Contains("com.onnxquant.Log2AttnMatMul x1", StringComparison.Ordinal));
    }

    [Fact]
    public void DoesNotFire_WhenTheCodesAreAlsoAGraphOutput()
    {
        var c = Log2AttnReference.Random(seed: 1, bits: 4, signed: false);
        using var model = Log2AttnReference.ExportModel(c);
        var codes = model.Graph.Nodes.Single(n => n.OpType == "Gather" && n.Output.Uses.Any(u => u.Node.OpType == "MatMul")).Inputs[1]!;
        model.Graph.Outputs.Add(codes);
        FusionTestGraph.AssertDoesNotFire(model, new FuseCustomOpsPass(), "an intermediate of the log√2 code search has readers outside it");
        Assert.Equal(1, FusionTestGraph.Count(model, "MatMul"));
    }

    [Fact]
    public void DoesNotFire_WhenTheValueTableIsNotALog2Quantizer()
    {
        var c = Log2AttnReference.Random(seed: 2, bits: 4, signed: false);
        using var model = Log2AttnReference.ExportModel(c);
        var gather = model.Graph.Nodes.Single(n => n.OpType == "Gather" && n.Output.Uses.Any(u => u.Node.OpType == "MatMul"));
        var values = c.Quantizer.Values.ToArray();
        values[3] *= 1.01f;
        gather.ReplaceInput(0, model.Graph.AddConstant(Tensor.FromFloats(values, values.Length), "other_values"));
        FusionTestGraph.AssertDoesNotFire(model, new FuseCustomOpsPass(), "the tables are not those of a log√2 quantizer with scale values[0]");
    }

    [Fact]
    public void DoesNotFire_WhenVIsFloat()
    {
        var c = Log2AttnReference.Random(seed: 3, bits: 4, signed: false);
        using var model = Log2AttnReference.ExportModel(c);
        var matmul = model.Graph.Nodes.Single(n => n.OpType == "MatMul");
        var dq = matmul.Inputs[1]!.Producer!;
        var relu = new Node("Relu", [dq.Output], 1, "", name: "relu", outputNames: ["v_relu"]);
        relu.Output.Type = dq.Output.Type;
        model.Graph.InsertAfter(dq, relu);
        matmul.ReplaceInput(1, relu.Output);
        FusionTestGraph.AssertDoesNotFire(model, new FuseCustomOpsPass(), "V is not read through a DequantizeLinear of uint8 or int8 codes");
    }

    [Fact]
    public void W8A8_DoesNotFire_OnAnEmulated4BitActivation()
    {
        const int K = 32, N = 8;
        var w = KernelTestModels.RandomW8A8(seed: 1, K, N, perTensor: true, bias: false);
        var b = new GraphBuilder(opset: 21);
        var x = b.Input("a", DataType.Float, "rows", K);
        var scale = b.Constant(Tensor.FromFloats([0.1f]));
        var zero = b.Constant(Tensor.FromSpan<byte>(DataType.UInt8, [(byte)8], []));
        var clipped = b.Op("Clip", x, b.Constant(Tensor.FromFloats([-0.8f])), b.Constant(Tensor.FromFloats([0.7f])));
        clipped.Type = new TensorType(DataType.Float, new Shape([Dim.Symbolic("rows"), K]));
        var dq = b.Op("DequantizeLinear", b.Op("QuantizeLinear", clipped, scale, zero), scale, zero);
        var weight = b.Op("DequantizeLinear", b.Constant(Tensor.FromSpan<sbyte>(DataType.Int8, w.Codes, [K, N])), b.Constant(Tensor.FromFloats(w.Scales)));
        b.Output(b.Op("MatMul", dq, weight), "y");
        using var model = b.Build();
        FusionTestGraph.AssertDoesNotFire(model, new FuseCustomOpsPass(), "its activation is clipped to fewer than 256 codes (emulated low-bit; per-token int8 would widen it)");
    }
}
