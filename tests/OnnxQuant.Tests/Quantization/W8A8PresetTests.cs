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

    [Fact]
    public void SaveParams_ListsEveryDequantizedTensor_WithItsGranularityScalesAndZeroPoints()
    {
        using var folder = new ScratchFolder();
        var run = Onnxquant.Run(VitTiny, folder.File("q.onnx"), "--recipe", "w8a8", "--data", "random", "--count", "2",
            "--shape", "pixel_values=1,3,32,32", "--save-params", folder.File("p.json"));
        Assert.True(run.ExitCode == 0, run.ToString());
        using var model = OnnxReader.Read(folder.File("q.onnx"));
        using var json = System.Text.Json.JsonDocument.Parse(File.ReadAllText(folder.File("p.json")));
        var tensors = json.RootElement.GetProperty("tensors").EnumerateArray().ToList();
        Assert.Equal(model.Graph.Nodes.Count(n => n.OpType == "DequantizeLinear"), tensors.Count);

        // Weights: int8, symmetric (zero points 0), one scale per output channel; activations: uint8, one scale.
        var weights = tensors.Where(t => t.GetProperty("type").GetString() == "int8").ToList();
        Assert.Equal(1 + 4 * 2 + 1, weights.Count);
        Assert.All(weights, w =>
        {
            Assert.Equal("per-channel", w.GetProperty("granularity").GetString());
            Assert.All(w.GetProperty("zeroPoint").EnumerateArray(), z => Assert.Equal(0, z.GetDouble()));
            Assert.All(w.GetProperty("scale").EnumerateArray(), s => Assert.True(s.GetDouble() > 0));
        });
        var activations = tensors.Where(t => t.GetProperty("type").GetString() == "uint8").ToList();
        Assert.NotEmpty(activations);
        Assert.All(activations, a => Assert.Equal(1, a.GetProperty("scale").GetArrayLength()));
    }
}
