using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Passes;
using OnnxQuant.Passes.Canonicalization;
using OnnxQuant.Passes.Quantization;
using OnnxQuant.Runtime.Audit;
using OnnxQuant.Tests.Support;
using static OnnxQuant.Tests.Quantization.QdqTestKit;

namespace OnnxQuant.Tests.Quantization;

public class SharedModelQdqTests
{
    /// <summary>
    /// Real models, ranges measured on seeded inputs (fusion does not depend on the data): after insert-qdq, ORT must
    /// run every quantized MatMul/Gemm/Conv as an integer kernel.
    /// </summary>
    [Theory]
    [InlineData("vit_mnist.onnx")]
    [InlineData("ppocr_v4_rec.onnx")]
    public void OrtFusesEveryQuantizedComputeOp_InASharedModel(string file)
    {
        using var model = OnnxReader.Read(SharedPaths.Model(file));
        if (model.GetOpset("") < 13) new UpgradeOpsetPass().Run(model, new UpgradeOpsetOptions { TargetOpset = 17 }, new PassContext());
        var feeds = SharedModelInputs.For(file, model);
        var context = Context(MeasureRanges(model, feeds));

        Assert.True(VerifiedPass.Run(new InsertQdqPass(), model, context).Modified);

        var report = FusionAudit.Run(model);
        Assert.True(report.UnfusedOnComputePath.Count == 0, $"{file}:\n{report}");
        // One integer kernel per quantized MatMul/Gemm/Conv: none was left to run in float.
        long quantized = context.Counters.GetValueOrDefault("quantized");
        Assert.True(quantized > 0);
        Assert.Equal(quantized, report.IntegerKernels.Values.Sum());
    }
}
