using OnnxQuant.Ir.Serialization;
using OnnxQuant.Passes.DemoModels;

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
}
