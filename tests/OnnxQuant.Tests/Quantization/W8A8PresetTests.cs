using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Tests.Cli;

namespace OnnxQuant.Tests.Quantization;

public class W8A8PresetTests
{
    private static string VitTiny => Path.Combine(SharedPaths.RepoRoot, "models", "vit-tiny.onnx");

    [Fact]
    public void W8A8_WithoutData_SaysWhatDataItNeeds_AndWritesNothing()
    {
        using var folder = new ScratchFolder();
        var result = Onnxquant.Run(VitTiny, folder.File("q.onnx"), "--recipe", "w8a8");
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--data", result.Stderr);
        Assert.False(File.Exists(folder.File("q.onnx")));
    }

    [Fact]
    public void W8A8_OnTheDemoVit_QuantizesEveryMatMulGemmAndConv()
    {
        using var folder = new ScratchFolder();
        var result = Onnxquant.Run(VitTiny, folder.File("q.onnx"), "--recipe", "w8a8", "--data", "random", "--count", "4",
            "--shape", "pixel_values=1,3,32,32");
        Assert.True(result.ExitCode == 0, result.ToString());
        using var model = OnnxReader.Read(folder.File("q.onnx"));
        var compute = model.Graph.Nodes.Where(n => n.OpType is "MatMul" or "Gemm" or "Conv").ToList();
        Assert.NotEmpty(compute);
        // Both operands of every MatMul/Gemm/Conv are dequantized; the weights (constant operands) are stored as int8.
        int weights = 0;
        foreach (var node in compute)
        {
            foreach (var input in node.Inputs.Take(2))
            {
                Assert.True(input?.Producer?.OpType == "DequantizeLinear", $"{node} reads {input} that is not dequantized.");
                if (input!.Producer!.Inputs[0]!.Const is { } stored)
                {
                    Assert.Equal(DataType.Int8, stored.ElementType);
                    weights++;
                }
            }
        }
        // vit-tiny: patch Conv, 4 linears in each of 2 blocks, and the Gemm head.
        Assert.Equal(1 + 4 * 2 + 1, weights);
        Assert.True(new FileInfo(folder.File("q.onnx")).Length < 0.5 * new FileInfo(VitTiny).Length);
    }
}
