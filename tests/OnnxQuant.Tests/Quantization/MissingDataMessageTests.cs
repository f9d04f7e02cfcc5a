using OnnxQuant.Tests.Cli;

namespace OnnxQuant.Tests.Quantization;

public class MissingDataMessageTests
{
    [Fact]
    public void StaticPresetWithoutData_NamesTheInputWithItsTypeAndShape_AndShowsAnExample()
    {
        using var folder = new ScratchFolder();
        var result = Onnxquant.Run(SharedPaths.Model("vit_mnist.onnx"), folder.File("q.onnx"), "--recipe", "w8a8");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("pixel_values: float [batch,1,28,28]", result.Stderr);
        Assert.Contains("--recipe w8a8 --data calib.npy", result.Stderr);
        Assert.Contains("w8a8-dynamic", result.Stderr);
        // It fails before any pass runs: no pass table was printed, nothing written.
        Assert.DoesNotContain("upgrade-opset", result.Stdout);
        Assert.False(File.Exists(folder.File("q.onnx")));
    }
}
