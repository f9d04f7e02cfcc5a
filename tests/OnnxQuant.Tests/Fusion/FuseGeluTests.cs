using OnnxQuant.Tests.Support;
using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Passes;
using OnnxQuant.Passes.Fusion;

namespace OnnxQuant.Tests.Fusion;

public class FuseGeluTests
{
    private const double Tolerance = 1e-5;

    /// <summary>How the product x · 0.5 · (1 + …) is associated.</summary>
    public enum Product { XTimesTermThenHalf, TermTimesHalfThenX, HalfXTimesTerm, XTimesTermThenDivTwo }

    private static Value Outer(FusionTestGraph t, Value x, Value term, Product product, float half = 0.5f) => product switch
    {
        Product.XTimesTermThenHalf => t.Op("Mul", t.Op("Mul", x, term), t.Scalar(half)),
        Product.TermTimesHalfThenX => t.Op("Mul", x, t.Op("Mul", t.Scalar(half), term)),
        Product.HalfXTimesTerm => t.Op("Mul", term, t.Op("Mul", x, t.Scalar(half))),
        _ => t.Op("Div", t.Op("Mul", term, x), t.Scalar(1 / half)),
    };

    private static Value ErfGelu(FusionTestGraph t, Value x, Product product, bool mulBySqrtHalf = false, float half = 0.5f)
    {
        var scaled = mulBySqrtHalf ? t.Op("Mul", t.Scalar(0.70710677f), x) : t.Op("Div", x, t.Scalar(1.4142135f));
        return Outer(t, x, t.Op("Add", t.Op("Erf", scaled), t.Scalar(1)), product, half);
    }

    private static Value TanhGelu(FusionTestGraph t, Value x, Product product, bool powCube)
    {
        var cube = powCube ? t.Op("Pow", x, t.Scalar(3)) : t.Op("Mul", x, t.Op("Mul", x, x));
        var inner = t.Op("Add", x, t.Op("Mul", cube, t.Scalar(0.044715f)));
        var th = t.Op("Tanh", t.Op("Mul", t.Scalar(0.7978846f), inner));
        return Outer(t, x, t.Op("Add", t.Scalar(1), th), product);
    }

    [Theory]
    [InlineData(Product.XTimesTermThenHalf, false)]
    [InlineData(Product.TermTimesHalfThenX, true)]
    [InlineData(Product.HalfXTimesTerm, false)]
    [InlineData(Product.XTimesTermThenDivTwo, true)]
    public void FusesErfGelu_InAnyAssociation(Product product, bool mulBySqrtHalf)
    {
        var t = new FusionTestGraph(20);
        var x = t.Input("x", 4, 32);
        t.Output(t.Op("Mul", ErfGelu(t, x, product, mulBySqrtHalf), t.Scalar(3)));

        var result = t.RunAndCompare(new FuseGeluPass(), Tolerance);

        Assert.True(result.Modified);
        Assert.Equal(2, t.Model.Graph.NodeCount);
        var gelu = t.Model.Graph.Nodes.Single(n => n.OpType == "Gelu");
        Assert.Null(gelu.GetAttribute("approximate"));
        Assert.Same(x, gelu.Inputs[0]);
    }

    [Theory]
    [InlineData(Product.XTimesTermThenHalf, true)]
    [InlineData(Product.HalfXTimesTerm, false)]
    public void FusesTanhGelu_WithApproximateTanh(Product product, bool powCube)
    {
        var t = new FusionTestGraph(20);
        t.Output(TanhGelu(t, t.Input("x", 4, 32), product, powCube));

        t.RunAndCompare(new FuseGeluPass(), Tolerance);

        var gelu = Assert.Single(t.Model.Graph.Nodes);
        Assert.Equal("Gelu", gelu.OpType);
        Assert.Equal("tanh", gelu.GetString("approximate", ""));
    }

    [Fact]
    public void DoesNotFire_WhenTheHalfIsAnotherConstant()
    {
        var t = new FusionTestGraph(20);
        t.Output(ErfGelu(t, t.Input("x", 4, 8), Product.XTimesTermThenHalf, half: 0.6f));

        var context = t.AssertDoesNotFire(new FuseGeluPass(), "expected the constant 0.5, found 0.6");
        Assert.Equal(0, t.Count("Gelu"));
    }

    [Fact]
    public void DoesNotFire_WhenTheErfIsAlsoUsedElsewhere()
    {
        var t = new FusionTestGraph(20);
        t.Output(ErfGelu(t, t.Input("x", 4, 8), Product.XTimesTermThenHalf));
        t.Output(t.Model.Graph.Nodes.Single(n => n.OpType == "Erf").Output);

        t.AssertDoesNotFire(new FuseGeluPass(), "the Erf inside the pattern produces a graph output");
        Assert.Equal(1, t.Count("Erf"));
    }

    [Fact]
    public void IsSkippedAndCounted_BelowOpset20()
    {
        var t = new FusionTestGraph(19);
        t.Output(ErfGelu(t, t.Input("x", 4, 8), Product.XTimesTermThenHalf));
        t.Output(TanhGelu(t, t.Input("y", 4, 8), Product.XTimesTermThenHalf, powCube: true));
        int before = t.Model.Graph.NodeCount;
        var context = new PassContext();
        Assert.False(VerifiedPass.Run(new FuseGeluPass(), t.Model, context).Modified);
        Assert.Empty(FusionTestGraph.Reasons(context));
        Assert.Equal(before, t.Model.Graph.NodeCount);
        Assert.Equal(2, context.Counters.GetValueOrDefault("skipped-opset"));
    }

    [Fact]
    public void SecondRun_ChangesNothing()
    {
        var t = new FusionTestGraph(20);
        t.Output(ErfGelu(t, t.Input("x", 4, 8), Product.XTimesTermThenHalf));
        var pass = new FuseGeluPass();
        Assert.True(pass.Run(t.Model, new PassContext()).Modified);
        var bytes = OnnxWriter.ToBytes(t.Model);

        Assert.False(pass.Run(t.Model, new PassContext()).Modified);
        Assert.Equal(bytes, OnnxWriter.ToBytes(t.Model));
    }
}
