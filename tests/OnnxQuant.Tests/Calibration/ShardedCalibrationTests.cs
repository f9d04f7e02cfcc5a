using OnnxQuant.Ir.Serialization;
using OnnxQuant.Runtime.Calibration.Statistics;
using OnnxQuant.Runtime.DataSources;
using OnnxQuant.Tests.Cli;

namespace OnnxQuant.Tests.Calibration;

/// <summary>
/// <c>calibrate --shard i/n</c> and <c>merge-stats</c>: shards merged give the single run's file byte for byte (ranges,
/// histograms, counts, exact sums); Σxxᵀ within 1e-12 relative; every way of giving the wrong shards is refused.
/// </summary>
public sealed class ShardedCalibrationTests : IDisposable
{
    private static readonly string Vit = SharedPaths.Model("vit_mnist.onnx");
    private static readonly string Calib256 = Path.Combine(SharedPaths.Data, "mnist", "calib_256.npy");
    private static readonly string Stories = SharedPaths.Model("stories260k.onnx");
    private static readonly string Tokens = Path.Combine(SharedPaths.Data, "lm", "stories_tokens_64x64.npy");
    private readonly ScratchFolder _dir = new("sharded-calibration-tests");

    public void Dispose() => _dir.Dispose();

    private string Calibrate(string model, string data, string name, params string[] extra)
    {
        string path = _dir.File(name);
        var r = Onnxquant.Run(["calibrate", model, "--data", data, "--out", path, .. extra]);
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);
        return path;
    }

    private string Merge(string name, params string[] files)
    {
        string path = _dir.File(name);
        var r = Onnxquant.Run(["merge-stats", .. files, "--out", path]);
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);
        return path;
    }

    [Fact]
    public void FourShardsMerged_AreByteIdenticalToOneRun_WhateverOrderTheyAreGiven()
    {
        // 30 samples in batches of 4: 8 batches, the last one short, split 2/2/2/2.
        string[] common = ["--count", "30", "--batch-size", "4", "--recipe", "w8a8", "--all-tensors"];
        string whole = Calibrate(Vit, Calib256, "whole.json", common);
        var shards = Enumerable.Range(1, 4).Select(i => Calibrate(Vit, Calib256, $"s{i}.json", [.. common, "--shard", $"{i}/4"])).ToArray();
        string merged = Merge("merged.json", shards[2], shards[0], shards[3], shards[1]);

        Assert.Equal(File.ReadAllBytes(whole), File.ReadAllBytes(merged));
        var parts = shards.Select(CalibrationStatistics.Load).ToArray();
        Assert.Equal([8L, 8, 8, 6], parts.Select(p => p.Samples));
        Assert.Equal([0L, 2, 4, 6], parts.Select(p => p.Shard!.FirstBatch));
        Assert.Null(CalibrationStatistics.Load(merged).Shard);
        // Histograms were collected (percentile), so the identity covers them.
        Assert.Contains(CalibrationStatistics.Load(whole).Tensors.Values, t => t.Histogram is { Total: > 0 });
    }

    [Fact]
    public void SecondMoments_AgreeWithin1e12Relative_AndTheRestIsIdentical_AndTheMergeFeedsGptq()
    {
        string[] common = ["--count", "12", "--batch-size", "2", "--recipe", "w4a16-gptq"];
        string whole = Calibrate(Stories, Tokens, "whole.json", common);
        var shards = Enumerable.Range(1, 3).Select(i => Calibrate(Stories, Tokens, $"g{i}.json", [.. common, "--shard", $"{i}/3"])).ToArray();
        string merged = Merge("merged.json", shards);

        var a = CalibrationStatistics.Load(whole);
        var b = CalibrationStatistics.Load(merged);
        int moments = 0;
        foreach (var (name, t) in a.Tensors)
        {
            if (t.SecondMoment is not { } sa) continue;
            var sb = b[name].SecondMoment!;
            Assert.Equal(sa.Rows, sb.Rows);
            double scale = 0;
            foreach (double v in sa.Upper) scale = Math.Max(scale, Math.Abs(v));
            for (int i = 0; i < sa.Upper.Length; i++)
                Assert.True(Math.Abs(sa.Upper[i] - sb.Upper[i]) <= 1e-12 * scale, $"{name}[{i}]: {sa.Upper[i]} vs {sb.Upper[i]}");
            moments++;
        }
        Assert.True(moments > 0);
        // Everything but the Σxxᵀ lines is byte-identical.
        static string[] WithoutUpper(string path) => File.ReadAllLines(path).Where(l => !l.TrimStart().StartsWith("\"upper\"", StringComparison.Ordinal)).ToArray();
        Assert.Equal(WithoutUpper(whole), WithoutUpper(merged));

        string output = _dir.File("q.onnx");
        var r = Onnxquant.Run(Stories, output, "--recipe", "w4a16-gptq", "--load-calib", merged);
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);
        using var model = OnnxReader.Read(output);
        Assert.Contains(model.Graph.Nodes, n => n.OpType == "MatMulNBits");
    }

    [Fact]
    public void ShardsSplitTheSelectedSamplesAtBatchBoundaries_AndCoverThemOnce()
    {
        using var model = OnnxReader.Read(Vit);
        var options = new DataSourceOptions { Count = 23, Skip = 5, Shuffle = true, Seed = 3, BatchSize = 3 };
        using var whole = CalibrationDataSource.Open(Calib256, model, options);
        var joined = new List<int>();
        var batches = new List<int[]>();
        for (int i = 1; i <= 5; i++)
        {
            using var shard = CalibrationDataSource.Open(Calib256, model, options with { Shard = new DataShard(i, 5) });
            Assert.Equal(23, shard.TotalSamples);
            Assert.Equal(joined.Count / 3, shard.ShardBatches.First);
            joined.AddRange(shard.Order);
            batches.AddRange(shard.Batches().Select(b => shard.Order.Skip(b.FirstSample).Take(b.SampleCount).ToArray()));
        }
        Assert.Equal(whole.Order, joined);
        Assert.Equal(whole.Batches().Select(b => whole.Order.Skip(b.FirstSample).Take(b.SampleCount).ToArray()), batches);
    }

    [Theory]
    [InlineData("0/4")]
    [InlineData("5/4")]
    [InlineData("1of4")]
    [InlineData("2/x")]
    public void AMalformedShard_IsRefusedWithTheForm(string shard)
    {
        var r = Onnxquant.Run("calibrate", Vit, "--data", Calib256, "--count", "4", "--shard", shard, "--out", _dir.File("x.json"));
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("INDEX/COUNT", r.Stderr);
        Assert.False(File.Exists(_dir.File("x.json")));
    }

    [Fact]
    public void MoreShardsThanBatches_IsRefused()
    {
        var r = Onnxquant.Run("calibrate", Vit, "--data", Calib256, "--count", "4", "--batch-size", "2", "--shard", "3/3", "--out", _dir.File("x.json"));
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("use at most 2 shards", r.Stderr);
    }

    [Fact]
    public void AMovingAverage_CannotBeSharded()
    {
        string recipe = _dir.File("ma.yaml");
        File.WriteAllText(recipe, """
            name: moving
            passes:
              - calibrate: { method: min-max, moving-average: true }
              - insert-qdq
            """);
        var r = Onnxquant.Run("calibrate", Vit, "--data", Calib256, "--count", "4", "--recipe", recipe, "--shard", "1/2", "--out", _dir.File("x.json"));
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("moving-average", r.Stderr);
        Assert.False(File.Exists(_dir.File("x.json")));
    }

    [Fact]
    public void MissingRepeatedOrForeignShards_AreRefused_AndNothingIsWritten()
    {
        string[] common = ["--count", "8", "--batch-size", "2"];
        var s = Enumerable.Range(1, 3).Select(i => Calibrate(Vit, Calib256, $"s{i}.json", [.. common, "--shard", $"{i}/3"])).ToArray();
        string otherCount = Calibrate(Vit, Calib256, "other.json", ["--count", "10", "--batch-size", "2", "--shard", "3/3"]);
        string whole = Calibrate(Vit, Calib256, "whole.json", common);
        string output = _dir.File("merged.json");

        void Refused(string expected, params string[] files)
        {
            var r = Onnxquant.Run(["merge-stats", .. files, "--out", output]);
            Assert.Equal(2, r.ExitCode);
            Assert.Contains(expected, r.Stderr);
            Assert.False(File.Exists(output));
        }
        Refused("shard 2/3 is missing", s[0], s[2]);
        Refused("given twice", s[0], s[1], s[1], s[2]);
        Refused("a run over 10 samples", s[0], s[1], otherCount);
        Refused("is a whole calibration run", whole, s[0], s[1], s[2]);
        var same = Onnxquant.Run("merge-stats", s[0], s[1], s[2], "--out", s[0]);
        Assert.Equal(2, same.ExitCode);
        Assert.Contains("same file as the input", same.Stderr);
        Refused("does not exist", s[0], s[1], _dir.File("nope.json"));
    }
}
