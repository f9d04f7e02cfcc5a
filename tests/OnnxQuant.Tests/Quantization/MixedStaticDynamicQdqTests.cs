using OnnxQuant.Ir;
using OnnxQuant.Ir.Building;
using OnnxQuant.Passes.Quantization;
using OnnxQuant.Tests.Support;
using static OnnxQuant.Tests.Quantization.QdqTestKit;

namespace OnnxQuant.Tests.Quantization;

/// <summary><c>insert-qdq: {after-dynamic: true}</c>: static QDQ for the layers insert-dynamic-qdq left float (w8a8-diffusion).</summary>
public class MixedStaticDynamicQdqTests
{
    /// <summary>x → MatMul "first" → h → MatMul "second" → y, with ranges measured on the float model.</summary>
    private static (Model Model, Dictionary<string, Tensor> Feeds, DictionaryRanges Ranges) TwoMatMuls()
    {
        var b = new GraphBuilder(opset: 21);
        var x = b.Input("x", DataType.Float, 4, 16);
        var h = b.Op("MatMul", x, b.Constant(Tensor.FromFloats(RandomFloats(21, 16 * 8, -1, 1), 16, 8), "w1"));
        b.Output(b.Op("MatMul", h, b.Constant(Tensor.FromFloats(RandomFloats(22, 8 * 4, -1, 1), 8, 4), "w2")), "y", DataType.Float, 4, 4);
        var model = b.Build();
        var nodes = model.Graph.Nodes.Where(n => n.OpType == "MatMul").ToList();
        nodes[0].Name = "first";
        nodes[1].Name = "second";
        var feeds = new Dictionary<string, Tensor> { ["x"] = Tensor.FromFloats(RandomFloats(23, 4 * 16, -2, 2), 4, 16) };
        return (model, feeds, MeasureRanges(model, feeds));
    }

    [Fact]
    public void WithoutTheOption_AModelWithDynamicQuantizationIsRefused()
    {
        var (model, feeds, ranges) = TwoMatMuls();
        using var _ = model;
        VerifiedPass.Run(new InsertDynamicQdqPass(), model, new InsertDynamicQdqOptions { ExcludeNodes = ["second"] }, new Passes.PassContext());
        var e = Assert.Throws<OnnxQuantException>(() => VerifiedPass.Run(new InsertQdqPass(), model, Context(ranges)));
        Assert.Contains("already quantized", e.Message);
    }

    [Fact]
    public void WithTheOption_TheFloatLayerGetsStaticQdq_TheDynamicOneStays_AndTheOutputStaysClose()
    {
        var (model, feeds, _) = TwoMatMuls();
        using var _m = model;
        var reference = NumericAssert.Run(model, feeds)["y"].AsSpan<float>().ToArray();
        VerifiedPass.Run(new InsertDynamicQdqPass(), model, new InsertDynamicQdqOptions { ExcludeNodes = ["second"] }, new Passes.PassContext());
        // As the preset does: calibrate after the dynamic pass, which renames the tensor it rewrites.
        var context = Context(MeasureRanges(model, feeds));
        Assert.True(VerifiedPass.Run(new InsertQdqPass(), model, new InsertQdqOptions { AfterDynamic = true }, context).Modified);

        Assert.Equal(1, Count(model, "DynamicQuantizeLinear"));
        Assert.Equal(1, Count(model, "MatMulInteger"));
        Assert.Equal(1, Count(model, "MatMul"));
        Assert.Equal(1, context.Counters["quantized"]);
        // The static layer reads DequantizeLinear on both inputs.
        var second = model.Graph.Nodes.Single(n => n.OpType == "MatMul");
        Assert.All(second.Inputs, v => Assert.Equal("DequantizeLinear", v!.Producer?.OpType));

        var y = NumericAssert.Run(model, feeds)["y"].AsSpan<float>().ToArray();
        double max = reference.Max(Math.Abs);
        // Two int8 layers: a few percent of the output's range at most.
        for (int i = 0; i < y.Length; i++) Assert.True(Math.Abs(y[i] - reference[i]) <= 0.05 * max, $"y[{i}] = {y[i]}, float {reference[i]}");
    }
}
