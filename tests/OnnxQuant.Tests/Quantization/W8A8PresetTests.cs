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

    [Fact]
    public void W8A8_RecordsProvenance_AndIsByteIdenticalForTheSameSeed()
    {
        using var folder = new ScratchFolder();
        string[] Args(string output) => [VitTiny, output, "--recipe", "w8a8", "--data", "random", "--count", "3",
            "--shape", "pixel_values=1,3,32,32", "--seed", "11"];
        Assert.Equal(0, Onnxquant.Run(Args(folder.File("a.onnx"))).ExitCode);
        Assert.Equal(0, Onnxquant.Run(Args(folder.File("b.onnx"))).ExitCode);
        Assert.Equal(File.ReadAllBytes(folder.File("a.onnx")), File.ReadAllBytes(folder.File("b.onnx")));

        using var model = OnnxReader.Read(folder.File("a.onnx"));
        var meta = model.Metadata.ToDictionary(e => e.Key, e => e.Value);
        Assert.Equal("w8a8", meta["onnxquant.recipe"]);
        string recipeFile = Path.Combine(AppContext.BaseDirectory, "models", "recipes", "w8a8.yaml");
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(recipeFile))), meta["onnxquant.recipe_sha256"]);
        Assert.Equal("11", meta["onnxquant.seed"]);
        Assert.StartsWith("3 samples of random", meta["onnxquant.calibration"]);
    }
}
