using OnnxQuant.Tests.Support;
using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Passes;
using OnnxQuant.Passes.Fusion;
using OnnxQuant.Runtime;

namespace OnnxQuant.Tests.Fusion;

public class FuseRmsNormTests
{
    private const double Tolerance = 1e-5;

    public enum Variant { DivOneThenMul, Reciprocal, DivDirect }

    /// <summary>y = x / √(mean(x²) + ε) · γ, decomposed as exporters write it (stories260k: Pow, Div(1, ·), Mul, Mul γ).</summary>
    private static void BuildRmsNorm(FusionTestGraph t, Value x, long channels, bool axesInput, Variant variant = Variant.DivOneThenMul,
        bool gamma = true, bool mulSelf = false)
    {
        var square = mulSelf ? t.Op("Mul", x, x) : t.Op("Pow", x, t.Scalar(2));
        var mean = axesInput ? t.Op("ReduceMean", [square, t.Int64s(-1)]) : t.Op("ReduceMean", [square], Attribute.Ints("axes", -1), Attribute.Int("keepdims", 1));
        var sqrt = t.Op("Sqrt", t.Op("Add", mean, t.Scalar(1e-5f)));
        var n = variant switch
        {
            Variant.DivOneThenMul => t.Op("Mul", x, t.Op("Div", t.Scalar(1), sqrt)),
            Variant.Reciprocal => t.Op("Mul", t.Op("Reciprocal", sqrt), x),
            _ => t.Op("Div", x, sqrt),
        };
        if (gamma) n = t.Op("Mul", n, t.Random(0.5f, 1.5f, channels));
        t.Output(n);
    }

    [Theory]
    [InlineData(Variant.DivOneThenMul, false)]
    [InlineData(Variant.Reciprocal, true)]
    [InlineData(Variant.DivDirect, false)]
    public void FusesRmsNorm_IntoSimplifiedLayerNormalization_BelowOpset23(Variant variant, bool mulSelf)
    {
        var t = new FusionTestGraph(17);
        BuildRmsNorm(t, t.Input("x", 2, 6, 32), 32, axesInput: false, variant, mulSelf: mulSelf);

        var result = t.RunAndCompare(new FuseRmsNormPass(), Tolerance);

        Assert.True(result.Modified);
        var fused = Assert.Single(t.Model.Graph.Nodes);
        Assert.Equal("SimplifiedLayerNormalization", fused.OpType);
        // ORT registers this contrib op in the default domain: com.microsoft would not load.
        Assert.True(fused.IsDefaultDomain);
        Assert.Equal(1e-5f, fused.GetFloat("epsilon", 0));
    }

    [Fact]
    public void FusesRmsNorm_IntoRMSNormalization_AtOpset23()
    {
        var t = new FusionTestGraph(23);
        BuildRmsNorm(t, t.Input("x", 3, 16), 16, axesInput: true);

        t.RunAndCompare(new FuseRmsNormPass(), Tolerance);

        var fused = Assert.Single(t.Model.Graph.Nodes);
        Assert.Equal("RMSNormalization", fused.OpType);
        Assert.Equal(-1, fused.GetInt("axis", 0));
    }

    [Fact]
    public void FusesWithoutGamma_WhenTheLastDimensionIsKnown()
    {
        var t = new FusionTestGraph(17);
        BuildRmsNorm(t, t.Input("x", 4, 8), 8, axesInput: false, Variant.DivDirect, gamma: false);

        t.RunAndCompare(new FuseRmsNormPass(), Tolerance);

        var fused = Assert.Single(t.Model.Graph.Nodes);
        Assert.All(fused.Inputs[1]!.Const!.AsSpan<float>().ToArray(), v => Assert.Equal(1f, v));
    }

    [Fact]
    public void DoesNotFire_OnTheTailOfALayerNorm()
    {
        // (x − mean) / √(mean((x − mean)²) + ε) has the RMS norm's shape over a centered input: it is a LayerNorm.
        var t = new FusionTestGraph(17);
        var x = t.Input("x", 2, 16);
        var d = t.Op("Sub", x, t.Op("ReduceMean", [x], Attribute.Ints("axes", -1)));
        var mean = t.Op("ReduceMean", [t.Op("Pow", d, t.Scalar(2))], Attribute.Ints("axes", -1));
        t.Output(t.Op("Div", d, t.Op("Sqrt", t.Op("Add", mean, t.Scalar(1e-5f)))));

        t.AssertDoesNotFire(new FuseRmsNormPass(), "the input is centered (x − mean(x)): the tail of a LayerNorm");
        Assert.Equal(0, t.Count("SimplifiedLayerNormalization"));
    }

    [Fact]
    public void DoesNotFire_WhenTheSquareIsUsedTwice()
    {
        var t = new FusionTestGraph(17);
        BuildRmsNorm(t, t.Input("x", 2, 16), 16, axesInput: false);
        var pow = t.Model.Graph.Nodes.Single(n => n.OpType == "Pow");
        t.Output(t.Op("Neg", pow.Output));

        var context = t.AssertDoesNotFire(new FuseRmsNormPass(), "the Pow inside the pattern is also used by Neg");
    }

    [Fact]
    public void DoesNotFire_WhenEpsilonIsNotAConstant()
    {
        var t = new FusionTestGraph(17);
        var x = t.Input("x", 2, 16);
        var eps = t.Input("eps");
        var mean = t.Op("ReduceMean", [t.Op("Pow", x, t.Scalar(2))], Attribute.Ints("axes", -1));
        t.Output(t.Op("Div", x, t.Op("Sqrt", t.Op("Add", mean, eps))));

        t.AssertDoesNotFire(new FuseRmsNormPass(), "Sqrt input 0 → Add input 1: expected a constant, found a graph input");
        Assert.Equal(1, t.Count("Pow"));
    }

    [Fact]
    public void SecondRun_ChangesNothing()
    {
        var t = new FusionTestGraph(17);
        BuildRmsNorm(t, t.Input("x", 2, 16), 16, axesInput: false);
        var pass = new FuseRmsNormPass();
        Assert.True(pass.Run(t.Model, new PassContext()).Modified);
        var bytes = OnnxWriter.ToBytes(t.Model);

        Assert.False(pass.Run(t.Model, new PassContext()).Modified);
        Assert.Equal(bytes, OnnxWriter.ToBytes(t.Model));
    }

    [Fact]
    public void Stories260k_GetsElevenFusedRmsNorms_AndTheSameLogits()
    {
        using var model = OnnxReader.Read(SharedPaths.Model("stories260k.onnx"));
        var random = new Random(11);
        var tokens = Tensor.FromInt64s(Enumerable.Range(0, 24).Select(_ => random.NextInt64(512)).ToArray(), 1, 24);
        var feeds = new Dictionary<string, Tensor> { ["input_ids"] = tokens };
        var context = new PassContext();

        var result = FusionTestGraph.RunAndCompare(model, new FuseRmsNormPass(), 1e-4, feeds, context);

        Assert.True(result.Modified);
        Assert.Equal(11, FusionTestGraph.Count(model, "SimplifiedLayerNormalization"));
        Assert.Equal(11, context.Counters.GetValueOrDefault("fused"));
        Assert.Equal(0, FusionTestGraph.Count(model, "Pow"));
        Assert.Equal(0, FusionTestGraph.Count(model, "Sqrt"));
    }

    [Fact]
    public void PpocrV4Rec_HasNoRmsNorm_ItsLayerNormsAreNotMistakenForOne()
    {
        using var model = OnnxReader.Read(SharedPaths.Model("ppocr_v4_rec.onnx"));

        Assert.False(new FuseRmsNormPass().Run(model, new PassContext()).Modified);
        Assert.Equal(5, FusionTestGraph.Count(model, "Pow"));
    }
}
