using OnnxQuant.Ir.Serialization;
using OnnxQuant.DemoModels;

namespace OnnxQuant.Tests.Cli;

public class GenerateCommandTests
{
    [Fact]
    public void GenerateVitTiny_WritesTheGeneratorsModel_ForTheSeed()
    {
        using var folder = new ScratchFolder();
        var result = Onnxquant.Run("generate", "vit-tiny", folder.File("a.onnx"), "--seed", "5");
        Assert.Equal(0, result.ExitCode);
        Assert.Equal(OnnxWriter.ToBytes(VitGenerator.Generate(VitConfig.Tiny, 5)), File.ReadAllBytes(folder.File("a.onnx")));
    }

    [Fact]
    public void CommittedDemoModel_IsWhatGenerateVitTinyWrites()
    {
        // models/vit-tiny.onnx is committed so the README's first command works without ../shared; it must stay the
        // generator's output (regenerate with `onnxquant generate vit-tiny models/vit-tiny.onnx`).
        byte[] committed = File.ReadAllBytes(Path.Combine(SharedPaths.RepoRoot, "models", "vit-tiny.onnx"));
        Assert.Equal(OnnxWriter.ToBytes(VitGenerator.Generate(VitConfig.Tiny, 0)), committed);
    }

    [Fact]
    public void GenerateUnknownModel_IsAUsageError()
    {
        using var folder = new ScratchFolder();
        var result = Onnxquant.Run("generate", "resnet", folder.File("a.onnx"));
        Assert.Equal(1, result.ExitCode);
        Assert.False(File.Exists(folder.File("a.onnx")));
    }

    [Fact]
    public void GenerateLlama_WritesTheGeneratorsModel_ForTheOptions()
    {
        using var folder = new ScratchFolder();
        var result = Onnxquant.Run("generate", "llama", folder.File("l.onnx"), "--width", "16", "--layers", "2", "--heads", "4",
            "--kv-heads", "2", "--ffn", "24", "--vocab", "32", "--seed", "4");
        Assert.True(result.ExitCode == 0, result.ToString());
        var expected = LlamaGenerator.Generate(new LlamaConfig(16, 2, 4, 2, 24, 32), 4);
        Assert.Equal(OnnxWriter.ToBytes(expected), File.ReadAllBytes(folder.File("l.onnx")));
        Assert.Contains($"{expected.Graph.Constants.Sum(c => c.Const!.ElementCount):N0} parameters", result.Stdout);
    }

    [Fact]
    public void GenerateLlamaFloat16_WritesTheGeneratorsFloat16Model()
    {
        using var folder = new ScratchFolder();
        var result = Onnxquant.Run("generate", "llama", folder.File("l.onnx"), "--width", "16", "--layers", "1", "--heads", "4",
            "--kv-heads", "2", "--ffn", "24", "--vocab", "32", "--float16");
        Assert.True(result.ExitCode == 0, result.ToString());
        var expected = LlamaGenerator.Generate(new LlamaConfig(16, 1, 4, 2, 24, 32) { Float16 = true }, 0);
        Assert.Equal(OnnxWriter.ToBytes(expected), File.ReadAllBytes(folder.File("l.onnx")));
        using var written = OnnxReader.Read(folder.File("l.onnx"));
        Assert.Equal(OnnxQuant.Ir.DataType.Float16, written.Graph.Outputs[0].ElementType);
    }

    [Theory]
    [InlineData("--width", "18", "--heads 16 does not divide --width 18")]
    [InlineData("--kv-heads", "3", "--kv-heads 3 does not divide --heads 16")]
    [InlineData("--vocab", "0", "--vocab must be at least 1")]
    public void GenerateLlama_WithAnImpossibleShape_SaysWhichOption(string option, string value, string message)
    {
        using var folder = new ScratchFolder();
        var result = Onnxquant.Run("generate", "llama", folder.File("l.onnx"), option, value);
        Assert.Equal(2, result.ExitCode);
        Assert.Contains(message, result.Stderr);
        Assert.False(File.Exists(folder.File("l.onnx")));
    }

    [Fact]
    public void LlamaShapeOptions_OnAViT_AreAUserError()
    {
        using var folder = new ScratchFolder();
        var result = Onnxquant.Run("generate", "vit-tiny", folder.File("a.onnx"), "--layers", "3");
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--layers", result.Stderr);
        Assert.False(File.Exists(folder.File("a.onnx")));
    }

    [Fact]
    public void GeneratedLlama_BenchesOneToken()
    {
        using var folder = new ScratchFolder();
        string model = folder.File("l.onnx");
        Assert.Equal(0, Onnxquant.Run("generate", "llama", model, "--width", "16", "--layers", "1", "--heads", "4", "--kv-heads", "2",
            "--ffn", "24", "--vocab", "32").ExitCode);
        var result = Onnxquant.Run("bench", model, "--shape", "input_ids=1,1", "--runs", "2", "--warmup", "1", "--json");
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("input_ids", result.Stdout);
    }
}
