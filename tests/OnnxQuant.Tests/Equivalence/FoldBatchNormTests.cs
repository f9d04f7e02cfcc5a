using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Passes;
using OnnxQuant.Passes.Equivalence;
using OnnxQuant.Tests.Fusion;
using OnnxQuant.Tests.Support;

namespace OnnxQuant.Tests.Equivalence;

public class FoldBatchNormTests
{
    private const double Tolerance = 1e-5;

    private static Value BatchNorm(FusionTestGraph t, Value input, long channels, params Attribute[] attributes) =>
        t.Op("BatchNormalization",
            [input, t.Random(0.5f, 2f, channels), t.Random(-1f, 1f, channels), t.Random(-0.5f, 0.5f, channels), t.Random(0.1f, 2f, channels)],
            [Attribute.Float("epsilon", 1e-3f), .. attributes]);

    private static Value Conv(FusionTestGraph t, Value x, Value weight, Value? bias) =>
        t.Op("Conv", bias is null ? [x, weight] : [x, weight, bias], Attribute.Ints("pads", 1, 1, 1, 1));

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void FoldsBatchNorm_IntoTheConvBefore(bool withBias)
    {
        var t = new FusionTestGraph(15);
        var x = t.Input("x", 2, 4, 6, 6);
        var conv = Conv(t, x, t.Random(-1, 1, 8, 4, 3, 3), withBias ? t.Random(-1, 1, 8) : null);
        t.Output(t.Op("Relu", BatchNorm(t, conv, 8)));

        var result = t.RunAndCompare(new FoldBatchNormPass(), Tolerance);

        Assert.True(result.Modified);
        Assert.Equal(0, t.Count("BatchNormalization"));
        Assert.Equal(2, t.Model.Graph.NodeCount);
        // Only the folded weight and bias remain.
        Assert.Equal(2, t.Model.Graph.Constants.Count);
    }

    [Fact]
    public void FoldsBatchNorm_IntoAGroupedConvTranspose()
    {
        var t = new FusionTestGraph(15);
        var x = t.Input("x", 1, 4, 5, 5);
        var deconv = t.Op("ConvTranspose", [x, t.Random(-1, 1, 4, 3, 3, 3), t.Random(-1, 1, 6)],
            Attribute.Int("group", 2), Attribute.Ints("strides", 2, 2));
        t.Output(BatchNorm(t, deconv, 6));

        t.RunAndCompare(new FoldBatchNormPass(), Tolerance);

        Assert.Equal(0, t.Count("BatchNormalization"));
        Assert.Equal(1, t.Count("ConvTranspose"));
    }

    [Fact]
    public void NeverChangesAWeightSharedWithAnotherConv()
    {
        var t = new FusionTestGraph(15);
        var x = t.Input("x", 1, 4, 6, 6);
        var shared = t.Random(-1, 1, 8, 4, 3, 3);
        var original = shared.Const!;
        t.Output(BatchNorm(t, Conv(t, x, shared, null), 8));
        t.Output(Conv(t, x, shared, null));

        t.RunAndCompare(new FoldBatchNormPass(), Tolerance);

        var convs = t.Model.Graph.Nodes.Where(n => n.OpType == "Conv").ToList();
        Assert.NotSame(shared, convs[0].Inputs[1]);
        Assert.Same(shared, convs[1].Inputs[1]);
        Assert.Same(original, shared.Const);
        Assert.Contains(shared, t.Model.Graph.Constants);
    }

    [Fact]
    public void DoesNotFire_WhenTheConvOutputIsUsedTwice()
    {
        var t = new FusionTestGraph(15);
        var conv = Conv(t, t.Input("x", 1, 4, 6, 6), t.Random(-1, 1, 8, 4, 3, 3), null);
        t.Output(BatchNorm(t, conv, 8));
        t.Output(t.Op("Relu", conv));

        var context = t.AssertDoesNotFire(new FoldBatchNormPass(), "the Conv inside the pattern is also used by Relu");
        Assert.Equal(1, t.Count("BatchNormalization"));
    }

    [Fact]
    public void DoesNotFire_WhenTheWeightIsNotAConstant()
    {
        var t = new FusionTestGraph(15);
        var conv = Conv(t, t.Input("x", 1, 4, 6, 6), t.Input("w", 8, 4, 3, 3), null);
        t.Output(BatchNorm(t, conv, 8));

        t.AssertDoesNotFire(new FoldBatchNormPass(), "input 1: expected a constant, found a graph input");
        Assert.Equal(1, t.Count("BatchNormalization"));
    }

    [Fact]
    public void DoesNotFire_InTrainingMode()
    {
        var t = new FusionTestGraph(15);
        var conv = Conv(t, t.Input("x", 1, 4, 6, 6), t.Random(-1, 1, 8, 4, 3, 3), null);
        t.Output(BatchNorm(t, conv, 8, Attribute.Int("training_mode", 1)));

        t.AssertDoesNotFire(new FoldBatchNormPass(), "BatchNormalization: it is in training mode");
        Assert.Equal(1, t.Count("BatchNormalization"));
    }

    [Fact]
    public void SecondRun_ChangesNothing()
    {
        var t = new FusionTestGraph(15);
        t.Output(BatchNorm(t, Conv(t, t.Input("x", 1, 4, 6, 6), t.Random(-1, 1, 8, 4, 3, 3), null), 8));
        var pass = new FoldBatchNormPass();
        Assert.True(pass.Run(t.Model, new PassContext()).Modified);
        var bytes = OnnxWriter.ToBytes(t.Model);

        Assert.False(pass.Run(t.Model, new PassContext()).Modified);
        Assert.Equal(bytes, OnnxWriter.ToBytes(t.Model));
    }

    [Fact]
    public void PpocrV4Rec_FoldsItsBatchNorms_WithTheSameOutputs()
    {
        const string file = "ppocr_v4_rec.onnx";
        using var model = OnnxReader.Read(SharedPaths.Model(file));
        int before = FusionTestGraph.Count(model, "BatchNormalization");
        var context = new PassContext();

        FusionTestGraph.RunAndCompare(model, new FoldBatchNormPass(), Tolerance, SharedModelInputs.For(file, model), context);

        Assert.Equal(6, before);
        Assert.Equal(0, FusionTestGraph.Count(model, "BatchNormalization"));
        Assert.Equal(6, context.Counters.GetValueOrDefault("folded"));
    }
}
