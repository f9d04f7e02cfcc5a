using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Passes.Quantization;
using OnnxQuant.Runtime.Audit;
using OnnxQuant.Tests.Support;
using static OnnxQuant.Tests.Quantization.QdqTestKit;

namespace OnnxQuant.Tests.Quantization;

/// <summary>
/// The taef2 autoencoder (Conv/ReLU/Resize/InstanceNorm, opset 17) at a small size, ranges measured on seeded inputs:
/// every Conv runs as QLinearConv, the residual Adds as QLinearAdd, Resize keeps one scale on both sides, and the
/// InstanceNormalization stays float.
/// </summary>
public class Taef2QdqTests
{
    [Theory]
    [InlineData("taef2_encoder.onnx")]
    [InlineData("taef2_decoder.onnx")]
    public void DefaultInsertion_RunsEveryConvInIntegers_AndLeavesInstanceNormFloat(string file)
    {
        using var model = OnnxReader.Read(SharedPaths.Model(file));
        var feeds = SharedModelInputs.For(file, model);
        var context = Context(MeasureRanges(model, feeds));
        int convs = Count(model, "Conv");

        Assert.True(VerifiedPass.Run(new InsertQdqPass(), model, context).Modified);

        Assert.All(model.Graph.Nodes.Where(n => n.OpType == "InstanceNormalization"),
            n => Assert.NotEqual("DequantizeLinear", n.Inputs[0]!.Producer?.OpType));
        foreach (var resize in model.Graph.Nodes.Where(n => n.OpType == "Resize"))
        {
            var before = resize.Inputs[0]!.Producer!;
            var after = resize.Output.Uses.Single().Node;
            Assert.Equal(("DequantizeLinear", "QuantizeLinear"), (before.OpType, after.OpType));
            Assert.Equal(before.Inputs[1]!.Const!.ToFloatArray(), after.Inputs[1]!.Const!.ToFloatArray());
        }
        var report = FusionAudit.Run(model);
        Assert.True(report.UnfusedOnComputePath.Count == 0, $"{file}:\n{report}");
        Assert.Equal(convs, report.Kernels("QLinearConv"));
        Assert.True(report.Kernels("QLinearAdd") > 0, report.ToString());
    }
}
