using OnnxQuant.DemoModels;
using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Passes;
using OnnxQuant.Passes.Calibration;
using OnnxQuant.Passes.Equivalence.Awq;
using OnnxQuant.Passes.Recipes;
using OnnxQuant.Runtime.Calibration;
using OnnxQuant.Runtime.Calibration.Statistics;
using OnnxQuant.Runtime.DataSources;
using OnnxQuant.Tests.Support;

namespace OnnxQuant.Tests.Equivalence;

/// <summary>
/// awq block by block (issue 16): with <c>block-wise: on</c> its statistics are collected one block at a time, each
/// unit of groups (those that edit a common node: v/o, up/down) is searched and rewritten as soon as the blocks holding
/// its nodes have run, and its statistics are then dropped. The result must be the whole-model run's, byte for byte:
/// the same scales and clipping, so the same model.
/// </summary>
public class AwqBlockWiseTests
{
    private static readonly LlamaConfig Llama = BlockWiseLlama.Config;

    private static CalibrationSettings Tokens(int count) => BlockWiseLlama.Tokens(count);

    private static (byte[] Bytes, List<string> Log, PassContext Context) Awq(AwqOptions options)
    {
        using var model = LlamaGenerator.Generate(Llama, seed: 5);
        new PassManager(RecipeLoader.LoadFileOrPreset("cleanup").Steps).Run(model, new PassContext());
        var log = new List<string>();
        var context = new PassContext(log: log.Add) { CurrentPass = "awq" };
        context.SetAnalysis(Tokens(4));
        Assert.True(new AwqPass().Run(model, options, context).Modified);
        return (OnnxWriter.ToBytes(model), log, context);
    }

    [Fact]
    public void BlockWise_SearchesEachUnitAsItsBlocksFinish_AndWritesTheWholeModelRunsBytes()
    {
        var whole = Awq(new AwqOptions { BlockWise = BlockWiseMode.Off });
        // block-mb that small: every stretch between cuts (attention, MLP of each layer) is a block of its own.
        var blocks = Awq(new AwqOptions { BlockWise = BlockWiseMode.On, BlockMb = 1e-6 });

        Assert.Contains(blocks.Log, l => l.Contains("calibrate: block-wise over", StringComparison.Ordinal));
        Assert.DoesNotContain(whole.Log, l => l.Contains("block-wise over", StringComparison.Ordinal));
        // Every unit ran during the block-wise run (none was left for the end), and there are several per model:
        // per layer q/k/v (with the norm), o, and gate/up joined with down (down's 1/s folds into up).
        var streamed = Assert.Single(blocks.Log, l => l.Contains("block by block", StringComparison.Ordinal));
        Assert.Contains($"({3 * Llama.Layers} of {3 * Llama.Layers} units", streamed);
        Assert.DoesNotContain(whole.Log, l => l.Contains("block by block", StringComparison.Ordinal));

        // The same α per activation (logged in another order: whole-model runs all searches first) and the same counters.
        static List<string> Alphas(List<string> log) => log.Where(l => l.Contains(": α ", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(4 * Llama.Layers, Alphas(whole.Log).Count);
        Assert.Equal(Alphas(whole.Log), Alphas(blocks.Log));
        Assert.Equal(whole.Context.Counters.OrderBy(c => c.Key), blocks.Context.Counters.OrderBy(c => c.Key));
        Assert.True(whole.Context.Counters.GetValueOrDefault("awq.clipped-blocks") > 0);
        Assert.Equal(whole.Bytes, blocks.Bytes);
    }

    [Fact]
    public void AfterBlock_HandsEveryTensorOverOnce_InTheBlockThatComputedIt_WithTheWholeRunsStatistics()
    {
        using var model = LlamaGenerator.Generate(Llama, seed: 5);
        var spec = new ObserverSpec { SecondMoment = true, ChannelAxis = -1 };
        var targets = model.Graph.Nodes.Where(n => n.OpType == "MatMul" && n.Input(1) is { IsConstant: true })
            .Select(n => n.Input(0)!.Name!).Distinct().Select(name => new KeyValuePair<string, ObserverSpec>(name, spec)).ToList();
        var source = new DataSourceOptions { Count = 3, Shapes = new Dictionary<string, long[]> { ["input_ids"] = [1, 12] } };
        using var data = CalibrationDataSource.Open("random", model, source);
        var whole = CalibrationCollector.Collect(model, data, targets, new CollectorOptions { ObserverThreads = 1 });

        var handed = new CalibrationStatistics { Samples = whole.Samples, Source = whole.Source };
        var blocks = new List<int>();
        var rest = CalibrationCollector.Collect(model, data, targets, new CollectorOptions
        {
            BlockWise = BlockWiseMode.On,
            BlockBytes = 1,
            ObserverThreads = 1,
            AfterBlock = block =>
            {
                blocks.Add(block.Index);
                var producers = block.Nodes.SelectMany(n => n.Outputs).Select(v => v?.Name).ToHashSet();
                foreach (var t in block.Statistics.Tensors.Values)
                {
                    Assert.Contains(t.Name, producers);
                    handed.Add(t); // throws on a second hand-over of the same tensor
                }
            },
        });

        Assert.Equal(0, rest.Count);
        Assert.True(blocks.Count >= 2 * Llama.Layers);
        Assert.Equal(Enumerable.Range(0, blocks.Count), blocks);
        Assert.Equal(targets.Count, handed.Count);
        Assert.Equal(whole.ToJson(), handed.ToJson());
    }
}
