using System.Text.Json;

namespace OnnxQuant.Tests.Cli;

/// <summary><c>eval</c> and <c>bench</c> take the same input options: <c>--data PATH|random</c>, <c>--shape</c>, <c>--image</c>, <c>--seed</c>.</summary>
public class ModelInputOptionsTests
{
    private static readonly string VitTiny = Path.Combine(SharedPaths.RepoRoot, "models", "vit-tiny.onnx");

    [Theory]
    [InlineData("eval")]
    [InlineData("bench")]
    public void HelpOfBoth_ListsTheSameInputOptions(string command)
    {
        var result = Onnxquant.Run(command, "--help");

        Assert.Matches(@"--data <PATH\|random>\s+.*'random' \(seeded random values; give --shape for free dimensions\)", result.Stdout);
        Assert.Contains("--shape <NAME=D0,D1,...>", result.Stdout);
        Assert.Contains("--image <KEY=VALUE>", result.Stdout);
        Assert.Contains("--seed <S>", result.Stdout);
    }

    [Fact]
    public void Eval_OnRandomData_WithShape_ComparesAModelWithItself()
    {
        var result = Onnxquant.Run("eval", VitTiny, VitTiny, "--data", "random", "--count", "3", "--shape", "pixel_values=1,3,32,32", "--json");

        Assert.True(result.ExitCode == 0, result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        Assert.Equal(3, json.RootElement.GetProperty("samples").GetInt32());
        Assert.Equal("random", json.RootElement.GetProperty("data").GetString());
    }

    [Fact]
    public void Eval_OnRandomData_FeedsTheShapeGiven()
    {
        // taef2's encoder takes image: float[batch, 3, height, width] and gives latent: float[batch, 32, height/8, width/8].
        string taef2 = SharedPaths.Model("taef2_encoder.onnx");
        var result = Onnxquant.Run("eval", taef2, taef2, "--data", "random", "--count", "1", "--shape", "image=1,3,16,24", "--json");

        Assert.True(result.ExitCode == 0, result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        Assert.Equal(32 * 2 * 3, json.RootElement.GetProperty("outputs")[0].GetProperty("elements").GetInt64());
    }

    [Fact]
    public void Bench_FeedsTheFirstSampleOfTheData_AtItsShape()
    {
        string model = SharedPaths.Model("vit_mnist.onnx");
        var result = Onnxquant.Run("bench", model, "--data", Path.Combine(SharedPaths.Data, "mnist", "calib_256.npy"),
            "--runs", "2", "--warmup", "0", "--json");

        Assert.True(result.ExitCode == 0, result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        var input = json.RootElement.GetProperty("inputs")[0];
        Assert.Equal("[1,1,28,28]", "[" + string.Join(",", input.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64())) + "]");
    }

    [Fact]
    public void BenchTable_NamesWhatItFed_TheDataFileOrTheRandomSeed()
    {
        string model = SharedPaths.Model("vit_mnist.onnx");
        var fromData = Onnxquant.Run("bench", model, "--data", Path.Combine(SharedPaths.Data, "mnist", "calib_256.npy"), "--runs", "1", "--warmup", "0");
        Assert.True(fromData.ExitCode == 0, fromData.ToString());
        Assert.Contains("Inputs (first sample of calib_256.npy)", fromData.Stdout);
        Assert.DoesNotContain("seed", fromData.Stdout);

        var random = Onnxquant.Run("bench", model, "--seed", "7", "--shape", "pixel_values=1,1,28,28", "--runs", "1", "--warmup", "0");
        Assert.True(random.ExitCode == 0, random.ToString());
        Assert.Contains("Inputs (random, seed 7)", random.Stdout);
    }

    [Fact]
    public void Bench_OnRandomData_UsesTheShape()
    {
        var result = Onnxquant.Run("bench", VitTiny, "--data", "random", "--shape", "pixel_values=1,3,32,32", "--runs", "2", "--warmup", "0", "--json");

        Assert.True(result.ExitCode == 0, result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        Assert.Equal(32, json.RootElement.GetProperty("inputs")[0].GetProperty("shape")[3].GetInt64());
    }
}
