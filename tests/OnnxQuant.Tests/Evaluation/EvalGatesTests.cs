using OnnxQuant.Ir;
using OnnxQuant.Runtime.Evaluation;

namespace OnnxQuant.Tests.Evaluation;

public class EvalGatesTests
{
    private static TaskAccuracy Accuracy(double floatRate, double quantRate) =>
        new("top1", 100, true, (int)floatRate, floatRate, (int)quantRate, quantRate, floatRate - quantRate, 100, 100);

    [Fact]
    public void MinTop1_PassesAtTheThreshold_AndFailsBelowIt()
    {
        Assert.True(Assert.Single(EvalGates.Check(Accuracy(99, 98), 98, null)).Passed);
        var failed = Assert.Single(EvalGates.Check(Accuracy(99, 97.5), 98, null));
        Assert.False(failed.Passed);
        Assert.Equal(("min-top1", 98.0, 97.5), (failed.Gate, failed.Threshold, failed.Value));
    }

    [Fact]
    public void MaxDrop_ComparesFloatMinusQuant_InPoints()
    {
        Assert.True(Assert.Single(EvalGates.Check(Accuracy(99, 98.5), null, 0.5)).Passed);
        var failed = Assert.Single(EvalGates.Check(Accuracy(99, 98), null, 0.5));
        Assert.False(failed.Passed);
        Assert.Equal(1.0, failed.Value, 9);
        // A quantized model better than float has a negative drop: it passes any non-negative gate.
        Assert.True(Assert.Single(EvalGates.Check(Accuracy(97, 98), null, 0)).Passed);
    }

    [Fact]
    public void NoGates_WhenNoneAreAsked()
    {
        Assert.Empty(EvalGates.Check(null, null, null));
    }

    [Fact]
    public void AGate_WithoutLabelledAccuracy_IsAnError_NotAPass()
    {
        Assert.Throws<OnnxQuantException>(() => EvalGates.Check(null, 90, null));
        var unlabelled = new TaskAccuracy("top1", 10, false, null, null, null, null, null, 10, 100);
        Assert.Throws<OnnxQuantException>(() => EvalGates.Check(unlabelled, null, 1));
    }
}
