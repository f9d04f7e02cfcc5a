using System.Text.Json;
using OnnxQuant.Ir;
using OnnxQuant.Tests.Cli;

namespace OnnxQuant.Tests.Bench;

/// <summary>
/// <c>onnxquant bench</c> end to end, in-process. Timings on this shared machine are noisy, so only relations that
/// hold under any load are asserted: orderings of statistics, a generous band for a model against itself, sizes.
/// </summary>
public class BenchCommandTests
{
    private static readonly string Vit = BenchModels.VitTiny;

    [Fact]
    public void OneModel_Json_HasEveryDocumentedField_Consistently()
    {
        var result = Onnxquant.Run("bench", Vit, "--shape", BenchModels.VitTinyShape, "--runs", "5", "--warmup", "1", "--json");
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal("", result.Stderr);
        using var json = JsonDocument.Parse(result.Stdout);
        var root = json.RootElement;

        Assert.Equal(1, root.GetProperty("schemaVersion").GetInt32());
        Assert.Equal(1, root.GetProperty("threads").GetInt32());
        Assert.Equal(1, root.GetProperty("warmup").GetInt32());
        Assert.Equal(0, root.GetProperty("minSeconds").GetDouble());
        Assert.Equal(0, root.GetProperty("seed").GetInt32());
        Assert.False(root.GetProperty("interleaved").GetBoolean());
        Assert.True(root.GetProperty("elapsedSeconds").GetDouble() > 0);
        Assert.Equal(JsonValueKind.Null, root.GetProperty("comparison").ValueKind);

        var input = Assert.Single(root.GetProperty("inputs").EnumerateArray());
        Assert.Equal("pixel_values", input.GetProperty("name").GetString());
        Assert.Equal("float", input.GetProperty("elementType").GetString());
        Assert.Equal([1L, 3, 32, 32], input.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()));

        var model = Assert.Single(root.GetProperty("models").EnumerateArray());
        Assert.Equal("A", model.GetProperty("label").GetString());
        Assert.Equal(Vit, model.GetProperty("file").GetString());
        Assert.Equal(new FileInfo(Vit).Length, model.GetProperty("fileBytes").GetInt64());
        Assert.Equal(0, model.GetProperty("externalDataBytes").GetInt64());
        Assert.Equal(new FileInfo(Vit).Length, model.GetProperty("totalBytes").GetInt64());
        Assert.Equal(5, model.GetProperty("runs").GetInt32());

        var samples = model.GetProperty("samplesMs").EnumerateArray().Select(s => s.GetDouble()).Order().ToArray();
        Assert.Equal(5, samples.Length);
        Assert.All(samples, s => Assert.True(s > 0));
        var latency = model.GetProperty("latency");
        double Get(string name) => latency.GetProperty(name).GetDouble();
        // Five samples: the median is the third, the minimum the first, the maximum the last.
        Assert.Equal(samples[2], Get("medianMs"), 9);
        Assert.Equal(samples[0], Get("minMs"), 9);
        Assert.Equal(samples[4], Get("maxMs"), 9);
        Assert.InRange(Get("p90Ms"), samples[3], samples[4]);
        // The report rounds every figure to 1e-6 ms, the samples and the mean each on their own: the mean of the rounded
        // samples and the rounded mean differ by at most 5e-7 + 5e-7 (Assert.Equal(.., precision: 5) was flaky).
        Assert.Equal(samples.Average(), Get("meanMs"), 1.01e-6);
        Assert.Equal(1000 / Get("meanMs"), model.GetProperty("throughputPerSecond").GetDouble(), 1e-3 * model.GetProperty("throughputPerSecond").GetDouble());
    }

    [Fact]
    public void TheSameModelTwice_HasALatencyRatioNearOne_AndEqualSizes()
    {
        // 15 rounds rather than 5: the median of per-round ratios then shrugs off several rounds hit by other processes.
        var result = Onnxquant.Run("bench", Vit, Vit, "--shape", BenchModels.VitTinyShape, "--runs", "15", "--warmup", "2", "--json");
        Assert.True(result.ExitCode == 0, result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        var root = json.RootElement;
        Assert.True(root.GetProperty("interleaved").GetBoolean());
        var models = root.GetProperty("models").EnumerateArray().ToList();
        Assert.Equal(["A", "B"], models.Select(m => m.GetProperty("label").GetString()));
        Assert.All(models, m => Assert.Equal(15, m.GetProperty("runs").GetInt32()));
        Assert.Equal(models[0].GetProperty("totalBytes").GetInt64(), models[1].GetProperty("totalBytes").GetInt64());

        var comparison = root.GetProperty("comparison");
        Assert.Equal(1.0, comparison.GetProperty("sizeRatio").GetDouble());
        Assert.InRange(comparison.GetProperty("latencyRatio").GetDouble(), 0.5, 2.0);
        double ofMedians = models[1].GetProperty("latency").GetProperty("medianMs").GetDouble() / models[0].GetProperty("latency").GetProperty("medianMs").GetDouble();
        Assert.Equal(ofMedians, comparison.GetProperty("latencyRatioOfMedians").GetDouble(), 9);
    }

    [Fact]
    public void AModelWithBiggerWeights_IsReportedBigger_CountingItsExternalData()
    {
        using var dir = new ScratchFolder();
        string small = BenchModels.MatMulChain(dir.File("small.onnx"), []);
        string big = BenchModels.MatMulChain(dir.File("big.onnx"), [256, 64], externalData: true);
        var result = Onnxquant.Run("bench", small, big, "--runs", "3", "--warmup", "0", "--json");
        Assert.True(result.ExitCode == 0, result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        var models = json.RootElement.GetProperty("models").EnumerateArray().ToList();

        Assert.Equal(0, models[0].GetProperty("externalDataBytes").GetInt64());
        Assert.Equal(new FileInfo(small).Length, models[0].GetProperty("totalBytes").GetInt64());
        long data = new FileInfo(big + ".data").Length;
        Assert.True(data > 0);
        Assert.Equal(data, models[1].GetProperty("externalDataBytes").GetInt64());
        Assert.Equal(new FileInfo(big).Length + data, models[1].GetProperty("totalBytes").GetInt64());

        double ratio = json.RootElement.GetProperty("comparison").GetProperty("sizeRatio").GetDouble();
        Assert.True(ratio > 1, $"size ratio {ratio}");
        Assert.Equal((double)models[1].GetProperty("totalBytes").GetInt64() / models[0].GetProperty("totalBytes").GetInt64(), ratio, 12);
    }

    [Fact]
    public void Table_ShowsBothModels_TheirStatistics_AndTheRatios_AsPlainText()
    {
        var result = Onnxquant.Run("bench", Vit, Vit, "--shape", BenchModels.VitTinyShape, "--runs", "3", "--warmup", "1");
        Assert.True(result.ExitCode == 0, result.ToString());
        string size = string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{new FileInfo(Vit).Length / 1024.0:0.0} KiB");
        foreach (string text in new[] { "Median", "p90", "Mean", "Min", "Throughput", size, "pixel_values float[1,3,32,32]", "B / A latency", "B / A size:    1.000x" })
            Assert.Contains(text, result.Stdout);
        Assert.Equal(2, result.Stdout.Split(Vit).Length - 1);
        Assert.DoesNotContain('\u001b', result.Stdout);
    }

    [Fact]
    public void MinSeconds_KeepsTimingPastTheRunCount()
    {
        var result = Onnxquant.Run("bench", Vit, "--shape", BenchModels.VitTinyShape, "--runs", "1", "--warmup", "0", "--min-seconds", "0.2", "--json");
        Assert.True(result.ExitCode == 0, result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        Assert.True(json.RootElement.GetProperty("elapsedSeconds").GetDouble() >= 0.2);
        Assert.True(json.RootElement.GetProperty("models")[0].GetProperty("runs").GetInt32() > 1);
    }

    [Theory]
    [InlineData("pixel_values", "--shape 'pixel_values': expected NAME=D0,D1,...")]
    [InlineData("pixel_values=1,3,x,32", "'x' is not a size")]
    [InlineData("pixels=1,3,32,32", "--shape names 'pixels', which is not an input of")]
    public void BadShapes_AreUserErrors(string shape, string expected)
    {
        var result = Onnxquant.Run("bench", Vit, "--shape", shape);
        Assert.Equal(2, result.ExitCode);
        Assert.Contains(expected, result.Stderr);
        Assert.Equal("", result.Stdout);
    }

    [Fact]
    public void AFreeDimensionWithoutShape_IsAUserError_SayingWhichShapeToGive()
    {
        var result = Onnxquant.Run("bench", Vit);
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("Input 'pixel_values'", result.Stderr);
        Assert.Contains("--shape pixel_values=1,3,32,32", result.Stderr);
    }

    [Fact]
    public void AMissingModel_IsAUserError()
    {
        using var dir = new ScratchFolder();
        string missing = dir.File("nope.onnx");
        var result = Onnxquant.Run("bench", Vit, missing, "--shape", BenchModels.VitTinyShape);
        Assert.Equal(2, result.ExitCode);
        Assert.Contains($"model file {missing} not found", result.Stderr);
    }

    [Theory]
    [InlineData("--runs", "0", "--runs 0")]
    [InlineData("--warmup", "-1", "--warmup -1")]
    [InlineData("--threads", "-2", "--threads -2")]
    [InlineData("--min-seconds", "-1", "--min-seconds -1")]
    public void OutOfRangeCounts_AreUserErrors(string option, string value, string expected)
    {
        var result = Onnxquant.Run("bench", Vit, "--shape", BenchModels.VitTinyShape, option, value);
        Assert.Equal(2, result.ExitCode);
        Assert.Contains(expected, result.Stderr);
    }

    public static TheoryData<string, DataType, long[], string> Mismatches => new()
    {
        { "y", DataType.Float, [1, 16], "The two models take different inputs: " },
        { "x", DataType.Int64, [1, 16], "Input 'x' is float in " },
        { "x", DataType.Float, [1, 8], "Input 'x' is fed as [1,16] to " },
    };

    [Theory]
    [MemberData(nameof(Mismatches))]
    public void ModelsWithDifferentInputs_AreRefused(string name, DataType type, long[] dims, string expected)
    {
        using var dir = new ScratchFolder();
        string a = BenchModels.Passthrough(dir.File("a.onnx"), "x", DataType.Float, new Shape(1, 16));
        string b = BenchModels.Passthrough(dir.File("b.onnx"), name, type, new Shape(dims));
        var result = Onnxquant.Run("bench", a, b);
        Assert.Equal(2, result.ExitCode);
        Assert.Contains(expected, result.Stderr);
        Assert.Contains(b, result.Stderr);
    }
}
