using OnnxQuant.Ir;
using OnnxQuant.Ir.Building;
using OnnxQuant.Passes;
using OnnxQuant.Passes.CustomOps;
using OnnxQuant.Passes.Quantization;
using OnnxQuant.Runtime;
using OnnxQuant.Tests.Fusion;
using OnnxQuant.Tests.Kernels;
using OnnxQuant.Tests.Support;

namespace OnnxQuant.Tests.CustomOps;

/// <summary>
/// fuse-custom-ops on insert-dynamic-qdq's form (DynamicQuantizeLinear → MatMulInteger → Cast → Mul, + bias Add):
/// MatMulW8A8 with the bias folded, run in ONNX Runtime against the float decomposition with the same int8 weights,
/// within the per-token rounding bound.
/// </summary>
public class FuseDynamicW8A8Tests
{
    private const int Rows = 6, K = 48, N = 20;

    [Fact]
    public void DynamicInt8MatMul_BecomesMatMulW8A8WithBias_WithinThePerTokenBound()
    {
        var random = new Random(21);
        var weight = Enumerable.Range(0, K * N).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
        var bias = Enumerable.Range(0, N).Select(i => 0.05f * i - 0.4f).ToArray();
        var b = new GraphBuilder(opset: 21);
        var x = b.Input("a", DataType.Float, "rows", K);
        b.Output(b.Op("Add", b.Op("MatMul", x, b.Constant(Tensor.FromFloats(weight, K, N))), b.Constant(Tensor.FromFloats(bias, N))), "y");
        using var model = b.Build();
        var context = new PassContext();

        Assert.True(VerifiedPass.Run(new InsertDynamicQdqPass(), model, new InsertDynamicQdqOptions(), context).Modified);
        Assert.True(VerifiedPass.Run(new FuseCustomOpsPass(), model, context).Modified);

        var fused = Assert.Single(model.Graph.Nodes, n => n.OpType == "MatMulW8A8");
        Assert.Equal(1, context.Counters["w8a8-dynamic"]);
        Assert.Equal(5, fused.Inputs.Count); // the bias Add folded in
        Assert.DoesNotContain(model.Graph.Nodes, n => n.OpType is "DynamicQuantizeLinear" or "MatMulInteger" or "Cast" or "Add");
        var codes = fused.Inputs[1]!.Const!.AsSpan<sbyte>().ToArray();
        var scales = fused.Inputs[2]!.Const!.AsSpan<float>().ToArray();
        Assert.Equal(N, scales.Length); // per output column
        var a = KernelTestModels.RandomActivations(seed: 22, Rows, K);
        // One token with a 50x outlier: a per-tensor range would cost the other rows their precision; per token it does not.
        a[3 * K + 5] *= 50;
        var y = ModelRunner.RunOnce(model, new Dictionary<string, Tensor> { ["a"] = Tensor.FromFloats(a, Rows, K) })["y"].AsSpan<float>().ToArray();
        PerTokenReference.AssertWithinBound(a, Rows, K, N, (n, k) => codes[k * N + n] * scales[n], bias, y);
    }

    [Fact]
    public void DoesNotFire_WhenTheMatMulIntegerOutputHasAnotherReader()
    {
        var random = new Random(23);
        var weight = Enumerable.Range(0, K * N).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
        var b = new GraphBuilder(opset: 21);
        var x = b.Input("a", DataType.Float, "rows", K);
        b.Output(b.Op("MatMul", x, b.Constant(Tensor.FromFloats(weight, K, N))), "y");
        using var model = b.Build();
        var context = new PassContext();
        VerifiedPass.Run(new InsertDynamicQdqPass(), model, new InsertDynamicQdqOptions(), context);
        // A second reader of the int32 product (as a debugging output would be) keeps the MatMulInteger.
        var product = model.Graph.Nodes.Single(n => n.OpType == "MatMulInteger").Output;
        model.Graph.Outputs.Add(product);
        FusionTestGraph.AssertDoesNotFire(model, new FuseCustomOpsPass(), "its Cast does not read a MatMulInteger read only by it");
    }
}
