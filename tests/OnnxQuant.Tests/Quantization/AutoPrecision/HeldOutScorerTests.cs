using OnnxQuant.Ir;
using OnnxQuant.Ir.Building;
using OnnxQuant.Passes.Quantization.AutoPrecision;
using OnnxQuant.Runtime;
using OnnxQuant.Runtime.Evaluation;
using static OnnxQuant.Tests.Quantization.QdqTestKit;

namespace OnnxQuant.Tests.Quantization.AutoPrecision;

/// <summary>
/// The held-out scorer's per-tensor SQNR streams (one sample at a time, tensors in chunks of a byte budget, the float
/// tensors cached only under a budget): every way of cutting the work must give the SQNR of all tensors at once.
/// </summary>
public class HeldOutScorerTests
{
    private const int K = 16, Layers = 5, Samples = 4;

    /// <summary>x → (MatMul → Relu) × <see cref="Layers"/>; <paramref name="seed"/> picks the weights.</summary>
    private static Model Chain(int seed)
    {
        var b = new GraphBuilder(opset: 17);
        var h = b.Input("x", DataType.Float, 1, K);
        for (int l = 1; l <= Layers; l++)
        {
            h = b.Op("MatMul", [h, b.Constant(Tensor.FromFloats(RandomFloats(seed + l, K * K, -0.5f, 0.5f), K, K), $"w{l}")], name: $"fc{l}");
            h = b.Op("Relu", [h], name: $"relu{l}");
        }
        b.Output(h, "y", DataType.Float, 1, K);
        return b.Build();
    }

    private static List<HeldOutSample> Held() =>
        Enumerable.Range(0, Samples).Select(s => new HeldOutSample(s, new Dictionary<string, Tensor> { ["x"] = Tensor.FromFloats(RandomFloats(90 + s, K, 0, 1), 1, K) })).ToList();

    private static List<string> Intermediates(Model m) =>
        m.Graph.Nodes.SelectMany(n => n.Outputs).Where(v => v is { IsGraphOutput: false, Name: not null }).Select(v => v!.Name!).ToList();

    /// <summary>All tensors of all samples at once, through ModelRunner directly.</summary>
    private static Dictionary<string, double> Reference(Model a, Model b, List<string> names, List<HeldOutSample> samples)
    {
        var stats = names.ToDictionary(n => n, _ => new ErrorStatistics());
        using var ra = ModelRunner.FromModel(a, new RunnerOptions(), names);
        using var rb = ModelRunner.FromModel(b, new RunnerOptions(), names);
        foreach (var s in samples)
        {
            var va = ra.Run(s.Feeds, names);
            var vb = rb.Run(s.Feeds, names);
            foreach (string n in names) stats[n].Add(va[n].AsSpan<float>(), vb[n].AsSpan<float>());
        }
        return stats.ToDictionary(e => e.Key, e => e.Value.SqnrDb);
    }

    [Theory]
    [InlineData(1L, 1L)]                              // one tensor per run, float recomputed per chunk
    [InlineData(2L * 4 * K, 1L)]                      // two tensors per run
    [InlineData(HeldOutScorer.DefaultChunkBytes, 1L)] // one run, nothing cached
    [InlineData(1L, HeldOutScorer.DefaultFloatCacheBytes)]
    [InlineData(HeldOutScorer.DefaultChunkBytes, HeldOutScorer.DefaultFloatCacheBytes)]
    public void TensorSqnr_InChunks_EqualsAllTensorsAtOnce(long chunkBytes, long cacheBytes)
    {
        using var floatModel = Chain(10);
        using var other = Chain(11);
        var samples = Held();
        var names = Intermediates(floatModel);
        Assert.Equal(2 * Layers - 1, names.Count);
        var scorer = new HeldOutScorer(floatModel, samples, TargetMetric.Sqnr, null, null, new RunnerOptions(), chunkBytes, cacheBytes);

        var expected = Reference(floatModel, other, names, samples);
        // Twice: the second call reads the float tensors from the cache where the budget allowed one.
        for (int round = 0; round < 2; round++)
        {
            var got = scorer.TensorSqnr(floatModel, other, names);
            Assert.Equal(expected.Keys.Order(), got.Keys.Order());
            foreach (var (name, sqnr) in expected)
                Assert.True(Math.Abs(sqnr - got[name]) < 1e-9, $"{name}: {got[name]} vs {sqnr} (round {round})");
        }
        // Distinct weights: the comparison is not trivially infinite.
        Assert.All(expected.Values, v => Assert.True(double.IsFinite(v)));
    }

    [Fact]
    public void TensorSqnr_PairsAQuantizedNameWithTheFloatTensorItStandsFor()
    {
        using var floatModel = Chain(10);
        using var other = Chain(11);
        var samples = Held();
        var names = Intermediates(floatModel);
        var scorer = new HeldOutScorer(floatModel, samples, TargetMetric.Sqnr, null, null, new RunnerOptions(), chunkBytes: 1, floatCacheBytes: 1);
        // The other model's second tensor read against the float model's first: as the reference computes it.
        var got = scorer.TensorSqnr(floatModel, other, new Dictionary<string, string> { [names[1]] = names[0] });
        var stats = new ErrorStatistics();
        using var ra = ModelRunner.FromModel(floatModel, new RunnerOptions(), names);
        using var rb = ModelRunner.FromModel(other, new RunnerOptions(), names);
        foreach (var s in samples) stats.Add(ra.Run(s.Feeds, names)[names[0]].AsSpan<float>(), rb.Run(s.Feeds, names)[names[1]].AsSpan<float>());
        Assert.True(Math.Abs(stats.SqnrDb - got[names[1]]) < 1e-9, $"{got[names[1]]} vs {stats.SqnrDb}");
    }

    [Fact]
    public void ElementCounts_AreEachTensorsSizeOnTheFirstSample()
    {
        using var floatModel = Chain(10);
        var scorer = new HeldOutScorer(floatModel, Held(), TargetMetric.Sqnr, null, null, new RunnerOptions());
        var names = Intermediates(floatModel);
        var counts = scorer.ElementCounts(floatModel, names);
        Assert.All(names.Append("y"), n => Assert.Equal(K, counts[n]));
    }
}
