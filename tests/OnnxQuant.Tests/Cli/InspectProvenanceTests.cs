using System.Text.Json;

namespace OnnxQuant.Tests.Cli;

/// <summary><c>inspect</c> shows how onnxquant made a model: tool version, recipe and its hash, seed, calibration.</summary>
public class InspectProvenanceTests
{
    [Fact]
    public void InspectOfAQuantizedModel_ShowsVersionRecipeSeedAndCalibration()
    {
        using var folder = new ScratchFolder();
        string output = folder.File("w8a8.onnx");
        var quantize = Onnxquant.Run(Path.Combine(SharedPaths.RepoRoot, "models", "vit-tiny.onnx"), output, "--recipe", "w8a8",
            "--data", "random", "--count", "2", "--shape", "pixel_values=1,3,32,32", "--seed", "7");
        Assert.True(quantize.ExitCode == 0, quantize.ToString());

        var tables = Onnxquant.Run("inspect", output);
        var json = Onnxquant.Run("inspect", output, "--json");

        Assert.Equal(0, tables.ExitCode);
        string version = typeof(OnnxQuant.Passes.Recipes.Provenance).Assembly.GetName().Version!.ToString(3);
        Assert.Matches($@"\nMade by\s+onnxquant {System.Text.RegularExpressions.Regex.Escape(version)}\n", tables.Stdout);
        Assert.Matches(@"\nRecipe\s+w8a8\n", tables.Stdout);
        Assert.Matches(@"\nRecipe SHA-256\s*[0-9a-f]{64}\n", tables.Stdout);
        Assert.Matches(@"\nSeed\s+7\n", tables.Stdout);
        Assert.Matches(@"\nCalibration\s+2 samples of random, \d+ tensors\n", tables.Stdout);
        using var doc = JsonDocument.Parse(json.Stdout);
        var metadata = doc.RootElement.GetProperty("metadata").EnumerateArray()
            .ToDictionary(e => e.GetProperty("key").GetString()!, e => e.GetProperty("value").GetString()!);
        Assert.Equal("w8a8", metadata["onnxquant.recipe"]);
        Assert.Equal("7", metadata["onnxquant.seed"]);
        Assert.Equal(version, metadata["onnxquant.version"]);
    }

    [Fact]
    public void InspectOfAModelNotMadeByOnnxquant_ShowsNoProvenance()
    {
        var result = Onnxquant.Run("inspect", SharedPaths.Model("vit_mnist.onnx"));

        Assert.Equal(0, result.ExitCode);
        Assert.DoesNotContain("Made by", result.Stdout);
    }
}
