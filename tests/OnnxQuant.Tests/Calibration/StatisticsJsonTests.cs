using OnnxQuant.Ir;
using OnnxQuant.Passes.Calibration.Ranges;
using OnnxQuant.Runtime.Calibration.Statistics;

namespace OnnxQuant.Tests.Calibration;

public sealed class StatisticsJsonTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("calib-json-tests-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static CalibrationStatistics Sample()
    {
        var stats = new CalibrationStatistics { Samples = 3, Source = "test" };
        var a = new TensorStatistics("act/a", new ObserverSpec { Histogram = HistogramKind.Signed, MovingAverage = true });
        var b = new TensorStatistics("b", new ObserverSpec { Histogram = HistogramKind.Absolute, ChannelAxis = -1, ChannelHistogram = HistogramKind.Signed, SecondMoment = true, Tokens = true });
        var values = Distributions.GaussianWithOutliers(3 * 4 * 8, 2, 30, seed: 1);
        for (int i = 0; i < 3; i++)
        {
            a.Observe(values.AsSpan(i * 32, 32), [4, 8]);
            b.Observe(values.AsSpan(i * 32, 32).ToArray().Select(v => v * 0.1f).ToArray(), [4, 8]);
        }
        var nan = new TensorStatistics("empty", new ObserverSpec());
        nan.Observe([float.NaN], [1]);
        stats.Add(a);
        stats.Add(b);
        stats.Add(nan);
        return stats;
    }

    [Fact]
    public void PerChannelSumsAndTokenStatistics_Reload_AndAFileWithoutSums_LoadsWithUnknownMeans()
    {
        var stats = Sample();
        var b = stats["b"];
        var loaded = CalibrationStatistics.FromJson(stats.ToJson(), "s.json")["b"];

        Assert.Equal(b.Channels!.Mean(), loaded.Channels!.Mean());
        Assert.True(b.Channels.Mean().All(double.IsFinite));
        Assert.Equal(12, loaded.Tokens!.AbsMax.Count); // 3 batches of 4 tokens
        Assert.Equal(b.Tokens!.AbsMax.Max, loaded.Tokens.AbsMax.Max);
        Assert.Equal(b.Tokens.Histogram.Total, loaded.Tokens.Histogram.Total);

        // A file written before the signed sums were kept: everything else loads, the means are unknown.
        string old = string.Join("\n", stats.ToJson().Split('\n').Where(line => !line.TrimStart().StartsWith("\"sums\"", StringComparison.Ordinal)));
        var older = CalibrationStatistics.FromJson(old, "old.json")["b"];
        Assert.All(older.Channels!.Mean(), m => Assert.True(double.IsNaN(m)));
        Assert.Equal(b.Channels.AbsMax(), older.Channels.AbsMax());
    }

    [Fact]
    public void SumsThatDoubleCannotHold_AreWrittenExactly_SoReloadedShardsStillMergeIntoOneRun()
    {
        // 2^24 + 2^-30 needs 55 bits: the rounded double loses the small batch, the exact form keeps it.
        var spec = new ObserverSpec { ChannelAxis = -1 };
        var whole = new TensorStatistics("x", spec);
        var first = new TensorStatistics("x", spec);
        var second = new TensorStatistics("x", spec);
        float big = 16777216f, small = MathF.ScaleB(1f, -30);
        foreach (var t in new[] { whole, first }) t.Observe([big, -big], [1, 2]);
        foreach (var t in new[] { whole, second }) t.Observe([small, -small], [1, 2]);
        foreach (var t in new[] { whole, second }) t.Observe([small, -small], [1, 2]);
        Assert.False(whole.MinMax.ExactSumAbs.IsExactlyRepresentable);

        CalibrationStatistics Wrap(TensorStatistics t) { var s = new CalibrationStatistics { Samples = 1 }; s.Add(t); return s; }
        var a = CalibrationStatistics.FromJson(Wrap(first).ToJson(), "a.json");
        var b = CalibrationStatistics.FromJson(Wrap(second).ToJson(), "b.json");
        a.Merge(b);
        a.Samples = 1;
        string json = Wrap(whole).ToJson();
        Assert.Contains("\"sumAbsExact\"", json);
        Assert.Contains("\"sumsExact\"", json);
        Assert.Equal(json, a.ToJson());
        Assert.Equal(whole.MinMax.ExactSumAbs.ToExactString(), CalibrationStatistics.FromJson(json, "w.json")["x"].MinMax.ExactSumAbs.ToExactString());
    }

    [Fact]
    public void ABatchWithNaN_LeavesTheSumOfMagnitudesFinite()
    {
        var t = new TensorStatistics("x", new ObserverSpec());
        t.Observe([1f, float.NaN, -2f, float.PositiveInfinity, 0.5f, 3f, 4f, 5f, 6f, 7f], [10]);
        Assert.Equal(28.5, t.MinMax.SumAbs);
        Assert.Equal(2, t.MinMax.NonFinite);
    }

    [Fact]
    public void ValuesNearFloatsLimit_GiveAFiniteSumOfMagnitudes()
    {
        // 16 values of 3e38: their float lane sums overflow, their double sum does not.
        var t = new TensorStatistics("x", new ObserverSpec());
        t.Observe(Enumerable.Repeat(3e38f, 16).ToArray(), [16]);
        Assert.Equal(16 * (double)3e38f, t.MinMax.SumAbs, 1e-9 * 16 * 3e38);
    }

    [Fact]
    public void SavedStatisticsReloadIdentically()
    {
        var stats = Sample();
        string path = Path.Combine(_dir, "s.json");
        stats.Save(path);
        var loaded = CalibrationStatistics.Load(path);
        Assert.Equal(stats.ToJson(), loaded.ToJson());
        Assert.Equal(stats.Samples, loaded.Samples);
        foreach (var method in Enum.GetValues<CalibrationMethod>())
        {
            var options = new RangeOptions { Method = method, Percentile = 99 };
            Assert.Equal(RangeCalculator.Compute(stats["act/a"], options), RangeCalculator.Compute(loaded["act/a"], options));
            var channelOptions = options with { Method = method == CalibrationMethod.Mse ? CalibrationMethod.Percentile : method };
            Assert.Equal(RangeCalculator.ComputeChannels(stats["b"], channelOptions), RangeCalculator.ComputeChannels(loaded["b"], channelOptions));
        }
        Assert.Equal(stats["b"].SecondMoment!.Upper.ToArray(), loaded["b"].SecondMoment!.Upper.ToArray());
        Assert.Equal(stats["act/a"].MinMax.MovingMax, loaded["act/a"].MinMax.MovingMax);
        Assert.Equal(1, loaded["empty"].MinMax.NonFinite);
    }

    [Fact]
    public void MergingSavedShardsEqualsOneRun()
    {
        var values = Distributions.Gaussian(5000, 0, 2, seed: 2);
        CalibrationStatistics Run(ReadOnlySpan<float> part)
        {
            var s = new CalibrationStatistics { Samples = part.Length / 50 };
            var t = new TensorStatistics("x", new ObserverSpec { Histogram = HistogramKind.Signed, ChannelAxis = 1 });
            for (int i = 0; i < part.Length; i += 50) t.Observe(part.Slice(i, 50), [10, 5]);
            s.Add(t);
            return s;
        }
        var one = Run(values);
        var first = Run(values.AsSpan(0, 1500));
        var second = Run(values.AsSpan(1500));
        string path = Path.Combine(_dir, "shard.json");
        second.Save(path);
        first.Merge(CalibrationStatistics.Load(path));
        Assert.Equal(one.Samples, first.Samples);
        var (x, y) = (one["x"], first["x"]);
        Assert.Equal(x.Histogram!.Counts.ToArray(), y.Histogram!.Counts.ToArray());
        Assert.Equal(x.Histogram.Offset, y.Histogram.Offset);
        Assert.Equal(x.MinMax.Min, y.MinMax.Min);
        Assert.Equal(x.MinMax.Max, y.MinMax.Max);
        Assert.Equal(x.Channels!.AbsMax(), y.Channels!.AbsMax());
        Assert.Equal(x.Batches, y.Batches);
    }

    [Fact]
    public void ANewerVersionIsRefusedWithAHint()
    {
        string json = Sample().ToJson().Replace("\"version\": 1", "\"version\": 7");
        var e = Assert.Throws<OnnxQuantException>(() => CalibrationStatistics.FromJson(json, "s.json"));
        Assert.Contains("s.json", e.Message);
        Assert.Contains("version 7", e.Message);
    }

    [Fact]
    public void AMissingFieldIsNamedWithItsPath()
    {
        string json = Sample().ToJson().Replace("\"widthExponent\"", "\"widthExponentX\"");
        var e = Assert.Throws<OnnxQuantException>(() => CalibrationStatistics.FromJson(json, "s.json"));
        Assert.Contains("s.json", e.Message);
        Assert.Contains("histogram.widthExponent: missing", e.Message);
    }

    [Fact]
    public void AnotherJsonFileIsNotTakenForStatistics()
    {
        var e = Assert.Throws<OnnxQuantException>(() => CalibrationStatistics.FromJson("{\"format\": \"other\"}", "x.json"));
        Assert.Contains("not an onnxquant calibration file", e.Message);
        Assert.Contains("not valid JSON", Assert.Throws<OnnxQuantException>(() => CalibrationStatistics.FromJson("{", "x.json")).Message);
    }
}
