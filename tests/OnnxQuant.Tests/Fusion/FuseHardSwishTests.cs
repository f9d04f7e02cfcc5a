using OnnxQuant.Tests.Support;
using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Passes;
using OnnxQuant.Passes.Fusion;

namespace OnnxQuant.Tests.Fusion;

public class FuseHardSwishTests
{
    private const double Tolerance = 1e-5;

    public enum Form { ClipMulDiv, ClipDivMul, ClipMulSixth, MinReluMulDiv, MaxMinDivMul, HardSigmoid }

    private static Value HardSwish(FusionTestGraph t, Value x, Form form, float offset = 3)
    {
        if (form == Form.HardSigmoid)
            return t.Op("Mul", t.Op("HardSigmoid", [x], Attribute.Float("alpha", 1f / 6), Attribute.Float("beta", 0.5f)), x);
        var u = t.Op("Add", x, t.Scalar(offset));
        var relu6 = form switch
        {
            Form.MinReluMulDiv => t.Op("Min", t.Op("Relu", u), t.Scalar(6)),
            Form.MaxMinDivMul => t.Op("Max", t.Scalar(0), t.Op("Min", u, t.Scalar(6))),
            _ => t.Op("Clip", u, t.Scalar(0), t.Scalar(6)),
        };
        return form switch
        {
            Form.ClipMulDiv or Form.MinReluMulDiv => t.Op("Div", t.Op("Mul", x, relu6), t.Scalar(6)),
            Form.ClipMulSixth => t.Op("Mul", t.Scalar(1f / 6), t.Op("Mul", relu6, x)),
            _ => t.Op("Mul", x, t.Op("Div", relu6, t.Scalar(6))),
        };
    }

    [Theory]
    [InlineData(Form.ClipMulDiv)]
    [InlineData(Form.ClipDivMul)]
    [InlineData(Form.ClipMulSixth)]
    [InlineData(Form.MinReluMulDiv)]
    [InlineData(Form.MaxMinDivMul)]
    [InlineData(Form.HardSigmoid)]
    public void FusesHardSwish_FromEachForm(Form form)
    {
        var t = new FusionTestGraph(14);
        var x = t.Input("x", 2, 3, 8, 8);
        // Inputs in [-1, 1) never reach the clip's corners; scaling by 5 does.
        t.Output(HardSwish(t, t.Op("Mul", x, t.Scalar(5)), form));

        var result = t.RunAndCompare(new FuseHardSwishPass(), Tolerance);

        Assert.True(result.Modified);
        Assert.Equal(1, t.Count("HardSwish"));
        Assert.Equal(2, t.Model.Graph.NodeCount);
    }

    [Fact]
    public void DoesNotFire_OnASqueezeExcitationGate()
    {
        // x · HardSigmoid(y) with y ≠ x gates channels: it is not a hard swish (ppocr has two of these).
        var t = new FusionTestGraph(14);
        var x = t.Input("x", 2, 8);
        var y = t.Input("y", 2, 8);
        t.Output(t.Op("Mul", x, t.Op("HardSigmoid", [y], Attribute.Float("alpha", 1f / 6), Attribute.Float("beta", 0.5f))));

        t.AssertDoesNotFire(new FuseHardSwishPass(), "HardSigmoid input 0: 'x' appears twice in the pattern but these are different values");
        Assert.Equal(0, t.Count("HardSwish"));
    }

    [Fact]
    public void DoesNotFire_WhenTheOffsetIsNotThree()
    {
        var t = new FusionTestGraph(14);
        t.Output(HardSwish(t, t.Input("x", 2, 8), Form.ClipMulDiv, offset: 2));

        t.AssertDoesNotFire(new FuseHardSwishPass(), "Add input 1: expected the constant 3, found 2");
        Assert.Equal(1, t.Count("Clip"));
    }

    [Fact]
    public void DoesNotFire_WhenTheClipIsUsedTwice()
    {
        var t = new FusionTestGraph(14);
        t.Output(HardSwish(t, t.Input("x", 2, 8), Form.ClipMulDiv));
        t.Output(t.Model.Graph.Nodes.Single(n => n.OpType == "Clip").Output);

        var context = t.AssertDoesNotFire(new FuseHardSwishPass(), "the Clip inside the pattern produces a graph output");
    }

    [Fact]
    public void IsSkippedAndCounted_BelowOpset14()
    {
        var t = new FusionTestGraph(13);
        t.Output(HardSwish(t, t.Input("x", 2, 8), Form.ClipMulDiv));
        var context = new PassContext();
        Assert.False(VerifiedPass.Run(new FuseHardSwishPass(), t.Model, context).Modified);
        Assert.Empty(FusionTestGraph.Reasons(context));
        Assert.Equal(1, context.Counters.GetValueOrDefault("skipped-opset"));
        Assert.Equal(0, t.Count("HardSwish"));
    }

    [Fact]
    public void SecondRun_ChangesNothing()
    {
        var t = new FusionTestGraph(14);
        t.Output(HardSwish(t, t.Input("x", 2, 8), Form.ClipDivMul));
        var pass = new FuseHardSwishPass();
        Assert.True(pass.Run(t.Model, new PassContext()).Modified);
        var bytes = OnnxWriter.ToBytes(t.Model);

        Assert.False(pass.Run(t.Model, new PassContext()).Modified);
        Assert.Equal(bytes, OnnxWriter.ToBytes(t.Model));
    }

    [Fact]
    public void PpocrV4Rec_AtItsOpset9_ReportsItsTwentyEightHardSwishesAsSkipped()
    {
        // ppocr writes x·clip(x+3, 0, 6)/6 with Clip bounds as attributes (opset 9); HardSwish needs opset 14.
        using var model = OnnxReader.Read(SharedPaths.Model("ppocr_v4_rec.onnx"));
        int before = model.Graph.NodeCount;
        var context = new PassContext();

        Assert.False(new FuseHardSwishPass().Run(model, context).Modified);
        Assert.Equal(before, model.Graph.NodeCount);
        Assert.Equal(28, context.Counters.GetValueOrDefault("skipped-opset"));
        // The HardSigmoids that stay are squeeze-excitation gates x · HardSigmoid(y), y ≠ x: not hard swish.
        Assert.All(FusionTestGraph.Reasons(context), r => Assert.EndsWith("HardSigmoid input 0: 'x' appears twice in the pattern but these are different values", r));
    }
}
