using OnnxQuant.DemoModels;
using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Passes;
using OnnxQuant.Passes.Calibration;
using OnnxQuant.Passes.Equivalence;
using OnnxQuant.Passes.Recipes;
using OnnxQuant.Runtime.Calibration;
using OnnxQuant.Runtime.DataSources;
using OnnxQuant.Tests.Support;

namespace OnnxQuant.Tests.Equivalence;

/// <summary>
/// smooth-quant block by block (issue 16): with <c>block-wise: on</c> its per-channel statistics and the rows
/// <c>alpha: auto</c> measures on come from the calibrator's block-wise runner, each activation is planned (α, s) as soon
/// as the block computing it has run and its rows dropped, and the rewrites follow once every group is planned. The
/// result must be the whole-model run's, byte for byte.
/// </summary>
public class SmoothQuantBlockWiseTests
{
    private static readonly LlamaConfig Llama = BlockWiseLlama.Config;

    private static CalibrationSettings Tokens(int count) => BlockWiseLlama.Tokens(count);

    private static Model CleanLlama()
    {
        var model = LlamaGenerator.Generate(Llama, seed: 5);
        new PassManager(RecipeLoader.LoadFileOrPreset("cleanup").Steps).Run(model, new PassContext());
        return model;
    }

    private static (byte[] Bytes, List<string> Log, PassContext Context) Smooth(SmoothQuantOptions options)
    {
        using var model = CleanLlama();
        var log = new List<string>();
        var context = new PassContext(log: log.Add) { CurrentPass = "smooth-quant" };
        context.SetAnalysis(Tokens(4));
        Assert.True(new SmoothQuantPass().Run(model, options, context).Modified);
        return (OnnxWriter.ToBytes(model), log, context);
    }

    [Theory]
    [InlineData("auto", 0.25)]
    [InlineData("0.5", -1)]
    public void BlockWise_PlansEachActivationAsItsBlockFinishes_AndWritesTheWholeModelRunsBytes(string alpha, double minGain)
    {
        SmoothQuantOptions Options(BlockWiseMode mode, double blockMb) =>
            new() { Alpha = alpha, ExplicitMulMinGain = minGain, AutoRows = 24, BlockWise = mode, BlockMb = blockMb };
        var whole = Smooth(Options(BlockWiseMode.Off, 64));
        // block-mb that small: every stretch between cuts (attention, MLP of each layer) is a block of its own.
        var blocks = Smooth(Options(BlockWiseMode.On, 1e-6));

        Assert.Contains(blocks.Log, l => l.Contains("calibrate: block-wise over", StringComparison.Ordinal));
        Assert.DoesNotContain(whole.Log, l => l.Contains("block-wise over", StringComparison.Ordinal));
        // Every activation was planned during the block-wise run (none left for the end): per layer the attention norm
        // (q/k/v), the attention output (o), the MLP norm (gate/up) and the SwiGLU product (down); then the final norm (LM head).
        int activations = 4 * Llama.Layers + 1;
        var streamed = Assert.Single(blocks.Log, l => l.Contains("planned block by block", StringComparison.Ordinal));
        Assert.Contains($"{activations} of {activations} activations", streamed);
        Assert.DoesNotContain(whole.Log, l => l.Contains("planned block by block", StringComparison.Ordinal));

        // The same α per activation (logged in another order on a block-wise run) and the same counters.
        static List<string> Alphas(List<string> log) => log.Where(l => l.Contains(": alpha ", StringComparison.Ordinal) && l.Contains(" rows.", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal).ToList();
        Assert.Equal(alpha == "auto" ? activations : 0, Alphas(whole.Log).Count);
        Assert.Equal(Alphas(whole.Log), Alphas(blocks.Log));
        Assert.Equal(whole.Context.Counters.OrderBy(c => c.Key), blocks.Context.Counters.OrderBy(c => c.Key));
        Assert.True(whole.Context.Counters.GetValueOrDefault("smooth-quant.layers") > 0);
        Assert.Equal(whole.Bytes, blocks.Bytes);
    }

    /// <summary>The rows and per-channel statistics sampled block by block are the whole-model run's (the same rows, in
    /// the same order, bit for bit), with the stride spreading them over all the data.</summary>
    [Fact]
    public void SampleRows_BlockWise_EqualTheWholeModelRuns()
    {
        using var model = CleanLlama();
        var activations = model.Graph.Nodes.Where(n => n.OpType == "MatMul" && n.Input(1) is { IsConstant: true })
            .Select(n => n.Input(0)!).Distinct().Select(v => (v, -1)).ToList();
        var context = new PassContext();
        context.SetAnalysis(Tokens(5));
        var whole = SmoothQuantAlphaSearch.SampleRows(model, activations, 24, context, new CalibrateOptions { BlockWise = BlockWiseMode.Off });
        var blocks = SmoothQuantAlphaSearch.SampleRows(model, activations, 24, context, new CalibrateOptions { BlockWise = BlockWiseMode.On, BlockMb = 1e-6 });

        Assert.Equal(activations.Count, whole.Count);
        Assert.Equal(whole.Keys.ToHashSet(), blocks.Keys.ToHashSet());
        foreach (var (v, sample) in whole)
        {
            // 5 samples × 16 tokens = 80 rows, every 4th (stride ⌈80 / 24⌉): 20 rows.
            Assert.Equal(20, sample.Rows.Length);
            Assert.Equal(sample.Rows.Select(r => r.Length).Distinct(), [sample.Channels.AbsMax().Length]);
            Assert.Equal(sample.Rows, blocks[v].Rows);
            Assert.Equal(sample.Channels.AbsMax(), blocks[v].Channels.AbsMax());
        }
    }

    /// <summary>A graph input read by a linear layer: its rows come from the feeds (the collector's tap sees them as it
    /// observes them), so alpha auto searches it rather than keeping 0.5 for want of rows.</summary>
    [Fact]
    public void AlphaAuto_SamplesAGraphInputsRows_FromTheFeeds()
    {
        var g = new Fusion.FusionTestGraph(21);
        var x = g.Input("x", 4, 8);
        var h = g.Op("Add", g.Op("MatMul", x, g.Random(-3, 3, 8, 8)), g.Random(-1, 1, 8));
        g.Output(g.Op("MatMul", h, g.Random(-1, 1, 8, 6)));
        var random = new Random(7);
        var samples = Enumerable.Range(0, 6).Select(_ => (IReadOnlyDictionary<string, Tensor>)new Dictionary<string, Tensor>
        {
            ["x"] = Tensor.FromFloats(Enumerable.Range(0, 32).Select(i => (float)(random.NextDouble() * 2 - 1) * (i % 8 == 3 ? 20 : 1)).ToArray(), 4, 8),
        }).ToList();
        var context = new PassContext { CurrentPass = "smooth-quant" };
        context.SetAnalysis(new CalibrationSettings { Samples = new CalibrationSamples(samples) });

        Assert.True(new SmoothQuantPass().Run(g.Model, new SmoothQuantOptions { Alpha = "auto" }, context).Modified);

        Assert.Equal(2, context.Counters.Where(c => c.Key.StartsWith("smooth-quant.auto-alpha-", StringComparison.Ordinal)).Sum(c => c.Value));
        Assert.False(context.Counters.ContainsKey("smooth-quant.auto-no-rows"));
        Assert.Equal(1, context.Counters.GetValueOrDefault("smooth-quant.mul")); // x has nothing before it
    }
}
