using OnnxQuant.Ir;
using OnnxQuant.Passes;
using OnnxQuant.Passes.Fusion;
using OnnxQuant.Runtime;

namespace OnnxQuant.Tests.Fusion;

/// <summary>The fusions together on a ViT-like MLP block as PyTorch exports it (decomposed LayerNorm and GELU).</summary>
public class TransformerBlockFusionTests
{
    /// <summary>y = x + W₂·GELU(W₁·LN(x) + b₁) + b₂ with tokens of width 16; rank 2 ([tokens, 16]) or 3 ([1, tokens, 16]).</summary>
    private static FusionTestGraph BuildBlock(int rank)
    {
        var t = new FusionTestGraph(20);
        var x = rank == 2 ? t.Input("x", 6, 16) : t.Input("x", 1, 6, 16);
        var axes = t.Int64s(-1);
        var mean = t.Op("ReduceMean", x, axes);
        var d = t.Op("Sub", x, mean);
        var variance = t.Op("ReduceMean", t.Op("Pow", d, t.Scalar(2)), axes);
        var n = t.Op("Div", d, t.Op("Sqrt", t.Op("Add", variance, t.Scalar(1e-6f))));
        var ln = t.Op("Add", t.Op("Mul", n, t.Random(0.5f, 1.5f, 16)), t.Random(-0.2f, 0.2f, 16));
        // Shapes as shape inference would record them: Gemm needs to know the activation is 2-D.
        ln.Type = new TensorType(DataType.Float, x.Shape);
        var h = t.Op("Add", t.Op("MatMul", ln, t.Random(-0.5f, 0.5f, 16, 32)), t.Random(-0.1f, 0.1f, 32));
        var erf = t.Op("Erf", t.Op("Div", h, t.Scalar(1.4142135f)));
        var gelu = t.Op("Mul", t.Op("Mul", h, t.Op("Add", erf, t.Scalar(1))), t.Scalar(0.5f));
        gelu.Type = new TensorType(DataType.Float, rank == 2 ? new Shape(6, 32) : new Shape(1, 6, 32));
        var o = t.Op("Add", t.Op("MatMul", gelu, t.Random(-0.5f, 0.5f, 32, 16)), t.Random(-0.1f, 0.1f, 16));
        t.Output(t.Op("Add", x, o));
        return t;
    }

    [Theory]
    [InlineData(2, 5)]
    [InlineData(3, 7)]
    public void FusedBlock_HasOneLayerNormAndOneGelu_AndTheSameOutputs(int rank, int expectedNodes)
    {
        var t = BuildBlock(rank);
        var feeds = SampleInputs.ForModel(t.Model, seed: 3);
        var before = ModelRunner.RunOnce(t.Model, feeds);
        var context = new PassContext();

        foreach (IPass pass in new IPass[] { new FuseLayerNormPass(), new FuseGeluPass(), new FuseMatMulAddPass() })
            pass.Run(t.Model, new NoOptions(), context);

        FusionTestGraph.AssertClose(before, ModelRunner.RunOnce(t.Model, feeds), 1e-5);
        Assert.Equal(1, t.Count("LayerNormalization"));
        Assert.Equal(1, t.Count("Gelu"));
        // Rank 2: LN, Gemm, Gelu, Gemm, Add; rank 3 keeps MatMul+Add pairs (as ORT prefers).
        Assert.Equal(rank == 2 ? 2 : 0, t.Count("Gemm"));
        Assert.Equal(expectedNodes, t.Model.Graph.NodeCount);
    }
}
