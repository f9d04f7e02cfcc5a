using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Tests.Cli;
using static OnnxQuant.Tests.Quantization.WeightOnly.WeightOnlyTestKit;

namespace OnnxQuant.Tests.Quantization.WeightOnly;

public class WeightOnlyPresetTests
{
    private static string VitTiny => Path.Combine(SharedPaths.RepoRoot, "models", "vit-tiny.onnx");

    [Theory]
    [InlineData("w8a16", 8, 0, true)]
    [InlineData("w4a16", 4, 0, false)]
    public void WeightOnlyPresets_TurnEveryMatMulAndGemmIntoMatMulNBits_AndOrtKeepsTheirLevel(string preset, int bits, int level, bool headQuantized)
    {
        using var folder = new ScratchFolder();
        var result = Onnxquant.Run(VitTiny, folder.File("q.onnx"), "--recipe", preset);
        Assert.True(result.ExitCode == 0, result.ToString());
        using var model = OnnxReader.Read(folder.File("q.onnx"));

        Assert.DoesNotContain(model.Graph.Nodes, n => !n.Output.IsGraphOutput && (n.OpType is "Gemm" || (n.OpType == "MatMul" && n.Inputs[1]!.IsConstant)));
        var nbits = model.Graph.Nodes.Where(n => n.OpType == "MatMulNBits").ToList();
        // vit-tiny: 4 linears in each of 2 blocks, and the head: 8 bits in w8a16; float in w4a16 (no fast 8-bit
        // level-0 kernel on CPU), where it stays a MatMul/Gemm on a float weight.
        var headNodes = model.Graph.Nodes.Where(n => n.Output.IsGraphOutput).ToList();
        if (headQuantized)
        {
            Assert.Equal(4 * 2 + 1, nbits.Count);
            var head = nbits.Single(n => n.Output.IsGraphOutput);
            Assert.Equal(8, head.GetInt("bits", 0));
            nbits.Remove(head);
        }
        else
        {
            Assert.Equal(4 * 2, nbits.Count);
            Assert.DoesNotContain(headNodes, n => n.OpType == "MatMulNBits");
        }
        Assert.All(nbits, n => Assert.Equal(bits, n.GetInt("bits", 0)));
        Assert.DoesNotContain(model.Graph.Nodes, n => n.OpType is "QuantizeLinear" or "DequantizeLinear");

        using var optimized = Optimized(model);
        Assert.All(optimized.Graph.Nodes.Where(n => n.OpType == "MatMulNBits"), n => Assert.Equal(level, n.GetInt("accuracy_level", -1)));
    }

    [Fact]
    public void W4A8_QuantizesConvolutionsWithQdq_AndMatMulsAsMatMulNBitsAtLevel4()
    {
        using var folder = new ScratchFolder();
        var result = Onnxquant.Run(VitTiny, folder.File("q.onnx"), "--recipe", "w4a8", "--data", "random", "--count", "2",
            "--shape", "pixel_values=1,3,32,32");
        Assert.True(result.ExitCode == 0, result.ToString());
        using var model = OnnxReader.Read(folder.File("q.onnx"));

        var conv = model.Graph.Nodes.Single(n => n.OpType == "Conv");
        Assert.Equal("DequantizeLinear", conv.Inputs[1]!.Producer!.OpType);
        Assert.Equal(DataType.Int8, conv.Inputs[1]!.Producer!.Inputs[0]!.Const!.ElementType);
        var nbits = model.Graph.Nodes.Where(n => n.OpType == "MatMulNBits").ToList();
        Assert.Equal(4 * 2 + 1, nbits.Count);
        Assert.All(nbits, n => Assert.Equal(4, n.GetInt("accuracy_level", 0)));
        Assert.Equal(1, FusionAuditKernels(model, "QLinearConv"));
    }

    private static int FusionAuditKernels(Model model, string op) => OnnxQuant.Runtime.Audit.FusionAudit.Run(model).Kernels(op);
}
