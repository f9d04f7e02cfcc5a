using OnnxQuant.Passes.Recipes;
using OnnxQuant.Runtime.Calibration;

namespace OnnxQuant.Tests.Calibration.Consumer;

/// <summary><c>calibrate: {range: consumer-mse}</c> through a recipe: it changes ranges, is byte-for-byte repeatable, and bad options fail at their line.</summary>
public class ConsumerMseRecipeTests
{
    private static string VitMnist => SharedPaths.Model("vit_mnist.onnx");
    private static string Calib256 => Path.Combine(SharedPaths.Data, "mnist", "calib_256.npy");

    /// <summary>The w8a8 preset (which calibrates with consumer-mse since session 7) with its calibrate step replaced.</summary>
    private static string W8a8With(string calibrate)
    {
        const string shipped = "  - calibrate: {method: percentile, percentile: 99.999, range: consumer-mse}";
        string yaml = File.ReadAllText(Path.Combine(SharedPaths.RepoRoot, "models", "recipes", "w8a8.yaml"));
        Assert.Contains(shipped, yaml);
        return yaml.Replace(shipped, "  - calibrate: " + calibrate);
    }

    private static QuantizeOptions Options(string yaml) => new()
    {
        Recipe = RecipeSource.Yaml(yaml),
        Calibration = CalibrationData.FromPath(Calib256) with { Count = 16 },
    };

    [Fact]
    public void BlockWise_JudgesEveryTensorByItsOwnError_InsteadOfRunningTheWholeModelForRows()
    {
        // The consumer row sample would load a larger-than-memory model whole: where calibrate runs block-wise it is
        // skipped, said so, and every tensor's range is chosen by its histogram error.
        using var folder = new ScratchFolder();
        var result = Quantizer.Quantize(VitMnist, folder.File("q.onnx"),
            Options(W8a8With("{method: percentile, percentile: 99.999, range: consumer-mse, block-wise: on, block-mb: 0.01}")));
        Assert.Equal(1, result.Counters["calibrate.range-consumers-not-sampled"]);
        Assert.False(result.Counters.ContainsKey("calibrate.range-judged-by-consumer"), string.Join(", ", result.Counters));
        Assert.True(result.Counters["calibrate.range-judged-by-tensor"] >= 12, string.Join(", ", result.Counters));
    }

    [Fact]
    public void ConsumerMse_ChoosesPerTensor_AndTheSameRunWritesTheSameBytes()
    {
        using var folder = new ScratchFolder();
        string yaml = W8a8With("{method: percentile, percentile: 99.999, range: consumer-mse}");
        Assert.Contains("consumer-mse", yaml);
        var a = Quantizer.Quantize(VitMnist, folder.File("a.onnx"), Options(yaml));
        Quantizer.Quantize(VitMnist, folder.File("b.onnx"), Options(yaml));
        var plain = Quantizer.Quantize(VitMnist, folder.File("plain.onnx"), Options(W8a8With("{method: percentile, percentile: 99.999}")));

        Assert.Equal(File.ReadAllBytes(folder.File("a.onnx")), File.ReadAllBytes(folder.File("b.onnx")));
        // vit_mnist: the LayerNorm outputs and fc2 inputs feed weight MatMuls (judged at their output), the attention operands do not.
        Assert.True(a.Counters["calibrate.range-judged-by-consumer"] >= 12, string.Join(", ", a.Counters));
        Assert.True(a.Counters["calibrate.range-judged-by-tensor"] > 0, string.Join(", ", a.Counters));
        Assert.False(plain.Counters.ContainsKey("calibrate.range-judged-by-consumer"));
        Assert.NotEqual(File.ReadAllBytes(folder.File("a.onnx")), File.ReadAllBytes(folder.File("plain.onnx")));
    }

    [Fact]
    public void UnknownCandidate_OrMinMaxMethod_FailsAtTheCalibrateLine()
    {
        using var folder = new ScratchFolder();
        var bad = Assert.Throws<RecipeException>(() => Quantizer.Quantize(VitMnist, folder.File("x.onnx"),
            Options(W8a8With("{method: percentile, range: consumer-mse, range-candidates: [max, p99]}"))));
        Assert.Contains("range candidate 'p99' is not max, entropy, mse or a percentile", bad.Message);
        var minMax = Assert.Throws<RecipeException>(() => Quantizer.Quantize(VitMnist, folder.File("y.onnx"),
            Options(W8a8With("{method: min-max, range: consumer-mse}"))));
        Assert.Contains("signed histograms", minMax.Message);
        Assert.False(File.Exists(folder.File("x.onnx")));
    }
}
