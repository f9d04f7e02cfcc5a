using OnnxQuant.Passes;
using OnnxQuant.Passes.Calibration;
using OnnxQuant.Passes.Calibration.Ranges;
using OnnxQuant.Passes.Recipes;

namespace OnnxQuant.Tests.Cli;

/// <summary>An enum value is printed one way (kebab-case, as <c>passes</c> lists it) and accepted in both spellings users meet.</summary>
public sealed class EnumSpellingTests : IDisposable
{
    private readonly ScratchFolder _folder = new("oq-enums");
    private static readonly string VitMnist = SharedPaths.Model("vit_mnist.onnx");
    private static readonly string Calib = Path.Combine(SharedPaths.Data, "mnist", "calib_256.npy");

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void PassesCommand_PrintsTheSpellingThatRecipesAndOptionsAccept()
    {
        var result = Onnxquant.Run("passes");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("method: enum (min-max|percentile|entropy|mse) = min-max", result.Stdout);
    }

    [Theory]
    [InlineData("min-max")]
    [InlineData("minmax")]
    [InlineData("MinMax")]
    public void CalibrateMethod_AcceptsEverySpelling_AndPrintsOne(string spelling)
    {
        var result = Onnxquant.Run("calibrate", VitMnist, "--data", Calib, "--count", "2", "--method", spelling, "--out", _folder.File("s.json"));

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("method min-max)", result.Stdout);
        Assert.Contains("Range (min-max)", result.Stdout);
    }

    [Fact]
    public void CalibrateMethod_ThatIsNoMethod_ListsTheSpellings()
    {
        var result = Onnxquant.Run("calibrate", VitMnist, "--data", Calib, "--method", "minimax", "--out", _folder.File("s.json"));

        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith("error: --method is one of min-max, percentile, entropy, mse; 'minimax' is not.", result.Stderr);
    }

    [Theory]
    [InlineData("min-max")]
    [InlineData("minmax")]
    public void Recipes_AcceptBothSpellings(string spelling)
    {
        var recipe = RecipeLoader.Parse($"name: r\npasses:\n  - calibrate: {{method: {spelling}}}\n", "r.yaml", PassRegistry.BuiltIn);

        var options = (CalibrateOptions)((PassStep)recipe.Steps.Single()).Options;
        Assert.Equal(CalibrationMethod.MinMax, options.Method);
        Assert.Equal("min-max", EnumSpelling.Of(options.Method));
    }
}
