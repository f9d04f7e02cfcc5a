using OnnxQuant.DemoModels;
using OnnxQuant.Ir;
using OnnxQuant.Runtime.Calibration;
using OnnxQuant.Runtime.Calibration.Blocks;
using OnnxQuant.Runtime.Calibration.Statistics;
using OnnxQuant.Runtime.DataSources;
using OnnxQuant.Tests.Cli;

namespace OnnxQuant.Tests.Calibration;

/// <summary>
/// Block-wise calibration (<see cref="BlockwiseCollector"/>): the graph is cut at the residual stream, every block
/// runs in its own session, and the statistics — ranges, histograms, per-channel, XᵀX — are byte-identical to a
/// whole-model run's; graphs without a usable cut fall back with the reason logged.
/// </summary>
public sealed class BlockwiseCalibrationTests : IDisposable
{
    private static readonly string Vit = SharedPaths.Model("vit_mnist.onnx");
    private static readonly string Calib256 = Path.Combine(SharedPaths.Data, "mnist", "calib_256.npy");
    private static readonly string Stories = SharedPaths.Model("stories260k.onnx");
    private static readonly string Tokens = Path.Combine(SharedPaths.Data, "lm", "stories_tokens_64x64.npy");
    private readonly ScratchFolder _dir = new("blockwise-calibration-tests");

    public void Dispose() => _dir.Dispose();

    private static readonly LlamaConfig SmallLlama = new(Width: 32, Layers: 3, Heads: 4, KvHeads: 2, Ffn: 48, Vocab: 64);

    /// <summary>Every floating-point activation with every observer the recipes use (percentile histograms, per-channel, XᵀX).</summary>
    private static List<KeyValuePair<string, ObserverSpec>> EveryObserver(Model model)
    {
        var spec = new ObserverSpec { Histogram = HistogramKind.Absolute, SecondMoment = true, ChannelAxis = -1 };
        return model.Graph.Nodes.SelectMany(n => n.Outputs)
            .Where(v => v is { Name: not null, ElementType: DataType.Float })
            .Select(v => new KeyValuePair<string, ObserverSpec>(v!.Name!, spec)).ToList();
    }

    private static string Collect(Model model, CalibrationDataSource data, CollectorOptions options, List<string>? log = null) =>
        CalibrationCollector.Collect(model, data, EveryObserver(model), options with { Log = log is null ? null : log.Add, ObserverThreads = 1 }).ToJson();

    [Fact]
    public void GeneratedLlama_BlockWiseStatistics_AreByteIdenticalToTheWholeModel_IncludingSecondMoments()
    {
        using var model = LlamaGenerator.Generate(SmallLlama, seed: 3);
        var source = new DataSourceOptions { Count = 5, BatchSize = 2, Shapes = new Dictionary<string, long[]> { ["input_ids"] = [1, 12] } };
        using var data = CalibrationDataSource.Open("random", model, source);
        string whole = Collect(model, data, new CollectorOptions());
        var log = new List<string>();
        string blocks = Collect(model, data, new CollectorOptions { BlockWise = BlockWiseMode.On, BlockBytes = 1 }, log);

        Assert.Equal(whole, blocks);
        Assert.Contains("secondMoment", whole);
        // One block per stretch between residual cuts: at least attention and MLP of every layer.
        var partition = BlockPartition.TryCreate(model, 1, out _)!;
        Assert.True(partition.Blocks.Count >= 2 * SmallLlama.Layers, $"{partition.Blocks.Count} blocks");
        Assert.Contains(log, l => l.Contains($"block-wise over {partition.Blocks.Count} blocks", StringComparison.Ordinal));
    }

    [Fact]
    public void KvCacheLlama_SideInputsFeedingEveryBlock_AreCarriedAlong_AndSpillingToDiskChangesNothing()
    {
        using var model = LlamaGenerator.Generate(SmallLlama with { KvCache = true }, seed: 4);
        var shapes = new Dictionary<string, long[]> { ["input_ids"] = [1, 4] };
        foreach (var input in model.Graph.Inputs.Where(i => i.Name!.StartsWith("past_key_values", StringComparison.Ordinal)))
            shapes[input.Name!] = [1, SmallLlama.KvHeads, 3, SmallLlama.Width / SmallLlama.Heads];
        using var data = CalibrationDataSource.Open("random", model, new DataSourceOptions { Count = 3, Shapes = shapes });
        string whole = Collect(model, data, new CollectorOptions());
        var log = new List<string>();
        string spilled = Collect(model, data, new CollectorOptions { BlockWise = BlockWiseMode.On, BlockBytes = 1, SpillBytes = 1 }, log);

        Assert.Equal(whole, spilled);
        Assert.Contains(log, l => l.Contains("temporary folder", StringComparison.Ordinal));
        // The last layer's cache is a graph input read only by the last blocks: carried from the first block on.
        var partition = BlockPartition.TryCreate(model, 1, out _)!;
        string lastKey = $"past_key_values.{SmallLlama.Layers - 1}.key";
        Assert.DoesNotContain(partition.Blocks[0].Inputs, v => v.Name == lastKey);
        Assert.Contains(partition.Blocks.Skip(1), b => b.Inputs.Any(v => v.Name == lastKey));
    }

    [Fact]
    public void Auto_StaysWhole_BelowTheThreshold_AndGoesBlockWise_AboveIt()
    {
        using var model = LlamaGenerator.Generate(SmallLlama, seed: 5);
        var log = new List<string>();
        Assert.Null(BlockwiseCollector.Plan(model, new CollectorOptions { BlockWise = BlockWiseMode.Auto }, log.Add));
        Assert.Null(BlockwiseCollector.Plan(model, new CollectorOptions { BlockWise = BlockWiseMode.Off, BlockWiseAboveBytes = 1 }, log.Add));
        Assert.NotNull(BlockwiseCollector.Plan(model, new CollectorOptions { BlockWise = BlockWiseMode.Auto, BlockWiseAboveBytes = 1, BlockBytes = 1 }, log.Add));
    }

    [Fact]
    public void DoesNotFire_WhenTheGraphHasControlFlow_AndTheRunFallsBackToTheWholeModelWithTheReason()
    {
        var g = new Graph();
        var x = g.AddInput("x", new TensorType(DataType.Float, new Shape(2)));
        var cond = g.AddInput("cond", new TensorType(DataType.Bool, new Shape(1)));
        var relu = g.Append(new Node("Relu", [x]));
        var branch = new Graph { Name = "then" };
        branch.Outputs.Add(branch.AddConstant(Tensor.FromFloats([1f, 2f], 2), "one"));
        var other = new Graph { Name = "else" };
        other.Outputs.Add(other.AddConstant(Tensor.FromFloats([3f, 4f], 2), "two"));
        var when = g.Append(new Node("If", [cond], attributes: [new OnnxQuant.Ir.Attribute("then_branch", AttributeKind.Graph, branch), new OnnxQuant.Ir.Attribute("else_branch", AttributeKind.Graph, other)]));
        var sum = g.Append(new Node("Add", [relu.Output, when.Output]));
        foreach (var v in new[] { relu.Output, when.Output, sum.Output }) v.Type = new TensorType(DataType.Float, new Shape(2));
        g.Outputs.Add(sum.Output);
        using var model = new Model(g);
        model.SetOpset("", 17);

        Assert.Null(BlockPartition.TryCreate(model, 1, out string? reason));
        Assert.Contains("control flow", reason);
        var samples = new CalibrationSamples([new Dictionary<string, Tensor> { ["x"] = Tensor.FromFloats([-1f, 2f], 2), ["cond"] = Tensor.FromRaw(DataType.Bool, [1], new byte[] { 1 }) }], "one sample");
        using var data = CalibrationDataSource.Open(samples, model);
        var log = new List<string>();
        var stats = CalibrationCollector.Collect(model, data, [new(sum.Output.Name!, ObserverSpec.MinMaxOnly)], new CollectorOptions { BlockWise = BlockWiseMode.On, Log = log.Add });
        Assert.Contains(log, l => l.Contains("block-wise calibration is not possible (the graph has control flow", StringComparison.Ordinal));
        // relu([-1, 2]) + then-branch [1, 2] = [1, 4], computed by the whole model.
        Assert.Equal((1.0, 4.0), (stats[sum.Output.Name!].MinMax!.Min, stats[sum.Output.Name!].MinMax!.Max));
    }

    [Fact]
    public void CalibrateCommand_VitMnistHistogramsOfEveryActivation_AreByteIdenticalBlockWise()
    {
        string recipe = _dir.File("blocks.yaml");
        File.WriteAllText(recipe, File.ReadAllText(Path.Combine(SharedPaths.RepoRoot, "models", "recipes", "w8a8.yaml"))
            .Replace("calibrate: {method: percentile, percentile: 99.999, range: consumer-mse}", "calibrate: {method: percentile, percentile: 99.999, range: consumer-mse, block-wise: on, block-mb: 0.01}", StringComparison.Ordinal));
        string[] common = ["calibrate", Vit, "--data", Calib256, "--count", "10", "--batch-size", "3", "--all-tensors", "--recipe"];
        var whole = Onnxquant.Run([.. common, "w8a8", "--out", _dir.File("whole.json")]);
        var blocks = Onnxquant.Run([.. common, recipe, "--out", _dir.File("blocks.json")]);
        Assert.True(whole.ExitCode == 0 && blocks.ExitCode == 0, whole.Stderr + blocks.Stderr);

        Assert.Contains("block-wise over", blocks.Stdout);
        Assert.DoesNotContain("block-wise", whole.Stdout);
        Assert.Equal(File.ReadAllBytes(_dir.File("whole.json")), File.ReadAllBytes(_dir.File("blocks.json")));
    }

    [Fact]
    public void QuantizeCommand_W4a16GptqBlockWise_WritesTheSameBytes()
    {
        string[] common = [Stories, "--recipe", "w4a16-gptq", "--data", Tokens, "--count", "4"];
        var whole = Onnxquant.Run([.. common.Take(1), _dir.File("whole.onnx"), .. common.Skip(1)]);
        var blocks = Onnxquant.Run([.. common.Take(1), _dir.File("blocks.onnx"), .. common.Skip(1), "--block-wise", "on"]);
        Assert.True(whole.ExitCode == 0 && blocks.ExitCode == 0, whole.Stderr + blocks.Stderr);

        Assert.Contains("block-wise over", blocks.Stdout);
        Assert.Equal(File.ReadAllBytes(_dir.File("whole.onnx")), File.ReadAllBytes(_dir.File("blocks.onnx")));
    }
}
