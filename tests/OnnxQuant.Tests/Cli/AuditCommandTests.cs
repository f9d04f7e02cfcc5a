using OnnxQuant.Ir;
using OnnxQuant.Ir.Building;
using OnnxQuant.Ir.Serialization;

namespace OnnxQuant.Tests.Cli;

public class AuditCommandTests
{
    [Fact]
    public void Audit_OfTheW8A8DemoVit_FindsIntegerKernels_AndNothingUnfusedOnTheComputePath()
    {
        using var folder = new ScratchFolder();
        var quantize = Onnxquant.Run(Path.Combine(SharedPaths.RepoRoot, "models", "vit-tiny.onnx"), folder.File("q.onnx"),
            "--recipe", "w8a8", "--data", "random", "--count", "2", "--shape", "pixel_values=1,3,32,32");
        Assert.True(quantize.ExitCode == 0, quantize.ToString());
        var audit = Onnxquant.Run("audit", folder.File("q.onnx"));
        Assert.True(audit.ExitCode == 0, audit.ToString());
        Assert.Contains("QLinearConv", audit.Stdout);
        Assert.Contains("(0 on MatMul/Gemm/Conv)", audit.Stdout);
    }

    [Fact]
    public void Audit_OfAMatMulWithOnlyItsActivationQuantized_ReportsTheUnfusedDequantize_AndExits3()
    {
        // With a float weight ORT has no integer MatMul to fuse the activation's Q/DQ into: the gate must catch it.
        var b = new GraphBuilder(opset: 21);
        var x = b.Input("x", DataType.Float, 4, 16);
        var scale = b.Constant(Tensor.Scalar(0.05f), "s");
        var zero = b.Constant(Tensor.FromRaw(DataType.UInt8, [], new byte[] { 128 }), "z");
        var dq = b.Op("DequantizeLinear", b.Op("QuantizeLinear", x, scale, zero), scale, zero);
        var w = b.Constant(Tensor.FromFloats(Enumerable.Range(0, 128).Select(i => (i % 7) * 0.1f).ToArray(), 16, 8), "w");
        b.Output(b.Op("MatMul", dq, w), "y");
        using var folder = new ScratchFolder();
        OnnxWriter.Write(b.Build(), folder.File("w8.onnx"));

        var audit = Onnxquant.Run("audit", folder.File("w8.onnx"));
        Assert.Equal(3, audit.ExitCode);
        Assert.Contains("(1 on MatMul/Gemm/Conv)", audit.Stdout);
    }
}
