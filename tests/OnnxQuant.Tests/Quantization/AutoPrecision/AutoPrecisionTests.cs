using System.Text.Json;
using OnnxQuant.Ir;
using OnnxQuant.Ir.Building;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Passes.Quantization.AutoPrecision;
using OnnxQuant.Tests.Calibration;
using OnnxQuant.Tests.Cli;
using static OnnxQuant.Tests.Quantization.QdqTestKit;

namespace OnnxQuant.Tests.Quantization.AutoPrecision;

public class AutoPrecisionTests
{
    private const int K = 16, Layers = 6, Samples = 24;

    /// <summary>
    /// x → fc1 → Relu → … → fc6 (MatMuls). With <paramref name="brokenLayer"/> set, column 0 of that layer's weight is
    /// 1000× the others, so its output activations hold one channel 1000× larger, and the next layer (which ignores
    /// that channel: its weight row 0 is zero) reads a tensor whose single uint8 range leaves every other channel at
    /// zero. The float model computes the same as without the outlier except for that dead channel.
    /// </summary>
    private static void WriteModel(string path, int? brokenLayer) =>
        WriteModel(path, brokenLayer is { } l ? new Dictionary<int, float> { [l] = 1000 } : []);

    /// <summary>As above, with every layer of <paramref name="brokenLayers"/> broken by its own scale (they must not be adjacent).</summary>
    private static void WriteModel(string path, IReadOnlyDictionary<int, float> brokenLayers)
    {
        var b = new GraphBuilder(opset: 17);
        var h = b.Input("x", DataType.Float, "batch", K);
        for (int l = 1; l <= Layers; l++)
        {
            float[] w = RandomFloats(40 + l, K * K, -0.5f, 0.5f);
            if (brokenLayers.TryGetValue(l, out float scale)) for (int r = 0; r < K; r++) w[r * K] = scale;
            if (brokenLayers.ContainsKey(l - 1)) for (int c = 0; c < K; c++) w[c] = 0;
            h = b.Op("MatMul", [h, b.Constant(Tensor.FromFloats(w, K, K), $"w{l}")], name: $"fc{l}");
            if (l < Layers) h = b.Op("Relu", [h], name: $"relu{l}");
        }
        b.Output(h, "y", DataType.Float, "batch", K);
        using var model = b.Build();
        OnnxWriter.Write(model, path);
    }

    /// <summary>
    /// The search alone: w8a8-auto's calibrate and auto-precision without its equalize and bias-correction steps. The
    /// preset's equalize repairs these models' dead outlier channels before the search sees them
    /// (<see cref="ThePreset_EqualizesTheDeadOutlierChannelAway_AndLeavesEveryLayerInt8"/>), so what the search itself
    /// finds is tested on this recipe.
    /// </summary>
    private const string SearchOnly = """
        name: auto-precision-search-only
        passes:
          - upgrade-opset: {target-opset: 21}
          - infer-shapes
          - calibrate: {method: percentile, percentile: 99.999, range: consumer-mse}
          - auto-precision: {target: "sqnr=30"}
        """;

    private static (CliResult Result, JsonElement Summary) Quantize(ScratchFolder folder, int? brokenLayer, string output, params string[] extra) =>
        Quantize(folder, brokenLayer is { } l ? new Dictionary<int, float> { [l] = 1000 } : [], output, extra);

    private static (CliResult Result, JsonElement Summary) Search(ScratchFolder folder, int? brokenLayer, string output, params string[] extra) =>
        Search(folder, brokenLayer is { } l ? new Dictionary<int, float> { [l] = 1000 } : [], output, extra);

    private static (CliResult Result, JsonElement Summary) Search(ScratchFolder folder, Dictionary<int, float> brokenLayers, string output, params string[] extra)
    {
        File.WriteAllText(folder.File("search-only.yaml"), SearchOnly);
        return Quantize(folder, brokenLayers, output, ["--recipe", folder.File("search-only.yaml"), .. extra]);
    }

    private static (CliResult Result, JsonElement Summary) Quantize(ScratchFolder folder, Dictionary<int, float> brokenLayers, string output, params string[] extra)
    {
        WriteModel(folder.File("m.onnx"), brokenLayers);
        NpyFiles.WriteFloats(folder.File("calib.npy"), [Samples, K], RandomFloats(34, Samples * K, 0, 1));
        string[] recipe = extra.Contains("--recipe") ? [] : ["--recipe", "w8a8-auto"];
        var result = Onnxquant.Run([folder.File("m.onnx"), folder.File(output), .. recipe, "--data", folder.File("calib.npy"), .. extra]);
        Assert.True(result.ExitCode == 0, result.ToString());
        using var model = OnnxReader.Read(folder.File(output));
        string json = model.Metadata.Single(e => e.Key == AutoPrecisionPass.MetadataKey).Value;
        return (result, JsonDocument.Parse(json).RootElement.Clone());
    }

    [Fact]
    public void ALayerWithOneChannelScaledBy1000_IsFoundAndOnlyIt()
    {
        using var folder = new ScratchFolder();
        var (_, summary) = Search(folder, brokenLayer: 3, "q.onnx", "--target", "sqnr=30");

        Assert.True(summary.GetProperty("startScore").GetDouble() < 10, summary.ToString());
        var decision = Assert.Single(summary.GetProperty("decisions").EnumerateArray());
        Assert.Equal("fc4", decision.GetProperty("node").GetString());
        Assert.True(summary.GetProperty("targetHolds").GetBoolean(), summary.ToString());
        Assert.True(summary.GetProperty("finalScore").GetDouble() >= 30, summary.ToString());
        Assert.Equal(8, summary.GetProperty("heldOutSamples").GetInt32());
        Assert.Equal(16, summary.GetProperty("heldOutFirst").GetInt32());

        // The written model is that choice: fc4 reads no 8-bit DequantizeLinear, every other fc does.
        using var model = OnnxReader.Read(folder.File("q.onnx"));
        foreach (var node in model.Graph.Nodes.Where(n => n.OpType == "MatMul"))
        {
            var x = node.Inputs[0]!.Producer;
            bool eightBit = x is { OpType: "DequantizeLinear" } && x.Inputs[0]!.ElementType is DataType.UInt8;
            Assert.True(eightBit == (node.Name != "fc4"), $"{node.Name}: input from {x?.OpType} ({x?.Inputs[0]?.ElementType})");
        }
    }

    [Fact]
    public void ThePreset_EqualizesTheDeadOutlierChannelAway_AndLeavesEveryLayerInt8()
    {
        using var folder = new ScratchFolder();
        // The ×1000 channel is read by nothing (fc4's row 0 is zero): equalize shrinks it to the other channels' range
        // (exact), so every layer meets the target at int8 and the search has nothing to change.
        var (result, summary) = Quantize(folder, brokenLayer: 3, "q.onnx", "--target", "sqnr=30", "--stats");
        Assert.Matches(@"equalize\.pairs\s+5", result.Stdout);
        Assert.Contains("every variant is measured after bias-correction", result.Stdout);
        Assert.True(summary.GetProperty("startScore").GetDouble() >= 30, summary.ToString());
        Assert.Empty(summary.GetProperty("decisions").EnumerateArray());
        Assert.Equal("target holds", summary.GetProperty("stopped").GetString());
        using var model = OnnxReader.Read(folder.File("q.onnx"));
        foreach (var node in model.Graph.Nodes.Where(n => n.OpType == "MatMul"))
            Assert.True(node.Inputs[0]!.Producer is { OpType: "DequantizeLinear" } x && x.Inputs[0]!.ElementType is DataType.UInt8, node.Name);
    }

    [Fact]
    public void TwoBrokenLayers_AreBothFound_TheSecondByMeasuringItAgainOnTheChangedModel()
    {
        using var folder = new ScratchFolder();
        // Layer 2 breaks the output (×1000), layer 4 less (×10). While fc3 (reading layer 2) is broken, changing fc5
        // gains nothing measurable, so fc5 is found only if it is measured again after fc3's change.
        var (_, summary) = Search(folder, new Dictionary<int, float> { [2] = 1000, [4] = 10 }, "q.onnx");
        var decided = summary.GetProperty("decisions").EnumerateArray().Select(d => d.GetProperty("node").GetString()).ToList();
        Assert.True(decided.SequenceEqual(["fc3", "fc5"]), summary.ToString());
        var second = summary.GetProperty("decisions")[1];
        Assert.True(second.GetProperty("scoreAfter").GetDouble() > second.GetProperty("scoreBefore").GetDouble() + 3, summary.ToString());
    }

    [Fact]
    public void ScreeningOnTwoSamples_FindsTheSameLayer_WithFewerSampleRuns_AndRecordsIt()
    {
        using var folder = new ScratchFolder();
        // This model is far below the automatic screening's estimated 100 ms per run, so by default every candidate is
        // measured on all 8 held-out samples; screen-samples: 2 screens on the first 2 and confirms a change on all 8.
        var (_, all) = Search(folder, brokenLayer: 3, "a.onnx", "--target", "sqnr=30");
        File.WriteAllText(folder.File("screen.yaml"), SearchOnly.Replace("{target: \"sqnr=30\"}", "{target: \"sqnr=30\", screen-samples: 2}"));
        var (_, screened) = Quantize(folder, new Dictionary<int, float> { [3] = 1000 }, "s.onnx", "--recipe", folder.File("screen.yaml"), "--target", "sqnr=30");

        Assert.Equal(2, screened.GetProperty("screenSamples").GetInt32());
        Assert.Equal(8, all.GetProperty("screenSamples").GetInt32());
        string Nodes(JsonElement s) => string.Join(",", s.GetProperty("decisions").EnumerateArray().Select(d => d.GetProperty("node").GetString() + ":" + d.GetProperty("choice").GetString()));
        Assert.Equal(Nodes(all), Nodes(screened));
        Assert.Equal("fc4", screened.GetProperty("decisions")[0].GetProperty("node").GetString());
        // The kept score is the full held-out figure in both (the same model), not the screening one.
        Assert.Equal(all.GetProperty("finalScore").GetDouble(), screened.GetProperty("finalScore").GetDouble());
        long cheap = screened.GetProperty("sampleRuns").GetInt64(), full = all.GetProperty("sampleRuns").GetInt64();
        Assert.True(cheap > 0 && cheap * 2 < full, $"screened {cheap} sample runs, all {full}");
    }

    [Fact]
    public void ATop1Target_ScreensOnEveryHeldOutSample()
    {
        using var folder = new ScratchFolder();
        // Even where screening is asked for: a hit rate on 2 samples moves in steps of 50 points.
        File.WriteAllText(folder.File("screen.yaml"), SearchOnly.Replace("{target: \"sqnr=30\"}", "{target: \"sqnr=30\", screen-samples: 2}"));
        var (_, summary) = Quantize(folder, new Dictionary<int, float> { [3] = 1000 }, "q.onnx", "--recipe", folder.File("screen.yaml"), "--target", "top1-drop=0");
        Assert.Equal(summary.GetProperty("heldOutSamples").GetInt32(), summary.GetProperty("screenSamples").GetInt32());
    }

    [Fact]
    public void SameInputAndSeed_WriteTheSameBytes()
    {
        using var folder = new ScratchFolder();
        Quantize(folder, brokenLayer: 2, "a.onnx", "--target", "sqnr=30");
        Quantize(folder, brokenLayer: 2, "b.onnx", "--target", "sqnr=30");
        Assert.Equal(File.ReadAllBytes(folder.File("a.onnx")), File.ReadAllBytes(folder.File("b.onnx")));
    }

    [Fact]
    public void WhenAllInt8AlreadyMeetsTheTarget_NothingChanges_AndTheReasonIsRecorded()
    {
        using var folder = new ScratchFolder();
        var (_, summary) = Quantize(folder, brokenLayer: null, "q.onnx", "--target", "sqnr=20");
        Assert.Empty(summary.GetProperty("decisions").EnumerateArray());
        Assert.Equal("target holds", summary.GetProperty("stopped").GetString());
        Assert.Equal(summary.GetProperty("startScore").GetDouble(), summary.GetProperty("finalScore").GetDouble());
    }

    [Fact]
    public void AnUnreachableTarget_StopsWithTheBestModel_AndSaysWhy()
    {
        using var folder = new ScratchFolder();
        var (result, summary) = Search(folder, brokenLayer: 3, "q.onnx", "--target", "sqnr=500");
        Assert.False(summary.GetProperty("targetHolds").GetBoolean());
        Assert.Contains("not reached", result.Stdout);
        Assert.True(summary.GetProperty("finalScore").GetDouble() > summary.GetProperty("startScore").GetDouble());
    }

    [Fact]
    public void ThePreset_WithATargetOnlyFloatReaches_StopsAtTheLatencyBudget_AndSaysItIsNotHeld()
    {
        using var folder = new ScratchFolder();
        // After equalize every layer gains a little from float, so without a budget sqnr=500 is reached (and said so)
        // only by leaving all six in float. With a budget that rules that out, the target is not held, and it says so.
        var (_, unbounded) = Quantize(folder, brokenLayer: 3, "all.onnx", "--target", "sqnr=500");
        Assert.True(unbounded.GetProperty("targetHolds").GetBoolean(), unbounded.ToString());
        Assert.Equal(6, unbounded.GetProperty("decisions").EnumerateArray().Count(d => d.GetProperty("choice").GetString() == "float"));
        var (result, summary) = Quantize(folder, brokenLayer: 3, "q.onnx", "--target", "sqnr=500", "--max-latency", "0.6");
        Assert.False(summary.GetProperty("targetHolds").GetBoolean(), summary.ToString());
        Assert.Contains("not reached", result.Stdout);
        Assert.Contains("latency budget", summary.GetProperty("stopped").GetString());
        Assert.True(summary.GetProperty("estimatedLatencyRatio").GetDouble() <= 0.6, summary.ToString());
        Assert.True(summary.GetProperty("finalScore").GetDouble() > summary.GetProperty("startScore").GetDouble(), summary.ToString());
    }

    [Fact]
    public void ALatencyBudget_IsKeptByEveryDecision()
    {
        using var folder = new ScratchFolder();
        // All int8 is the cheapest model; a budget equal to its estimate leaves no room for int16 or float.
        var (_, free) = Search(folder, brokenLayer: 3, "free.onnx", "--target", "sqnr=30");
        Assert.NotEmpty(free.GetProperty("decisions").EnumerateArray());
        double allInt8 = KernelCosts.Shipped.Nanoseconds("MatMul", PrecisionChoice.Int8, 1) / KernelCosts.Shipped.Nanoseconds("MatMul", PrecisionChoice.Float, 1);
        string budget = (allInt8 + 1e-4).ToString("R", System.Globalization.CultureInfo.InvariantCulture);
        var (_, tight) = Search(folder, brokenLayer: 3, "tight.onnx", "--target", "sqnr=30", "--max-latency", budget);
        Assert.Empty(tight.GetProperty("decisions").EnumerateArray());
        Assert.Contains("latency budget", tight.GetProperty("stopped").GetString());
        Assert.True(tight.GetProperty("estimatedLatencyRatio").GetDouble() <= allInt8 + 1e-4, $"{allInt8}: {tight}");
    }

    [Theory]
    [InlineData("--target", "sqnr", "is not KIND=NUMBER")]
    [InlineData("--target", "snr=3", "'snr' is not a target")]
    [InlineData("--target", "psnr-drop=-1", "a drop is 0 or more")]
    public void BadTargets_AreOneLineErrors_WithNoOutput(string option, string value, string message)
    {
        using var folder = new ScratchFolder();
        WriteModel(folder.File("m.onnx"), brokenLayer: null);
        NpyFiles.WriteFloats(folder.File("calib.npy"), [Samples, K], RandomFloats(34, Samples * K, 0, 1));
        var result = Onnxquant.Run(folder.File("m.onnx"), folder.File("q.onnx"), "--recipe", "w8a8-auto", "--data", folder.File("calib.npy"), option, value);
        Assert.Equal(2, result.ExitCode);
        Assert.Contains(message, result.Stderr);
        Assert.False(File.Exists(folder.File("q.onnx")));
    }

    [Fact]
    public void TargetOnARecipeWithoutAutoPrecision_IsRefused()
    {
        using var folder = new ScratchFolder();
        WriteModel(folder.File("m.onnx"), brokenLayer: null);
        var result = Onnxquant.Run(folder.File("m.onnx"), folder.File("q.onnx"), "--recipe", "w8a8", "--data", "random", "--target", "sqnr=30");
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("has none; use --recipe w8a8-auto", result.Stderr);
    }

    [Fact]
    public void FewerSamplesThanTheHoldout_IsRefused()
    {
        using var folder = new ScratchFolder();
        WriteModel(folder.File("m.onnx"), brokenLayer: null);
        NpyFiles.WriteFloats(folder.File("calib.npy"), [8, K], RandomFloats(34, 8 * K, 0, 1));
        var result = Onnxquant.Run(folder.File("m.onnx"), folder.File("q.onnx"), "--recipe", "w8a8-auto", "--data", folder.File("calib.npy"));
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("holds out 8 of the calibration samples", result.Stderr);
    }

    [Theory]
    [InlineData("sqnr=30", TargetMetric.Sqnr, 30)]
    [InlineData("top1-drop=0.5", TargetMetric.Top1, 0.5)]
    [InlineData("psnr-drop=0.3", TargetMetric.Psnr, 0.3)]
    public void Targets_Parse(string text, TargetMetric metric, double value)
    {
        var target = AccuracyTarget.Parse(text);
        Assert.Equal(new AccuracyTarget(metric, value), target);
        Assert.Equal(text, target.ToString());
    }

    [Fact]
    public void Targets_Hold_AsTheyRead()
    {
        Assert.True(AccuracyTarget.Parse("sqnr=30").Holds(30, double.PositiveInfinity));
        Assert.False(AccuracyTarget.Parse("sqnr=30").Holds(29.9, double.PositiveInfinity));
        Assert.True(AccuracyTarget.Parse("top1-drop=0.5").Holds(97.5, 98));
        Assert.False(AccuracyTarget.Parse("top1-drop=0.5").Holds(97.4, 98));
    }
}
