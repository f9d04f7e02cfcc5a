using OnnxQuant.Runtime.Benchmarking;

namespace OnnxQuant.Tests.Bench;

public class LatencyStatisticsTests
{
    [Fact]
    public void OddCount_MedianIsTheMiddleSample_AndP90Interpolates()
    {
        var s = LatencyStatistics.From([5, 1, 4, 2, 3]);
        // Sorted 1 2 3 4 5. p90: rank 0.9·4 = 3.6, between 4 and 5 → 4 + 0.6·1.
        Assert.Equal(5, s.Runs);
        Assert.Equal(3, s.Median, 12);
        Assert.Equal(4.6, s.P90, 12);
        Assert.Equal(3, s.Mean, 12);
        Assert.Equal(1, s.Min);
        Assert.Equal(5, s.Max);
        Assert.Equal(1.0 / 3, s.Throughput, 12);
    }

    [Fact]
    public void EvenCount_MedianIsTheMeanOfTheMiddleTwo()
    {
        var s = LatencyStatistics.From([10, 40, 20, 30]);
        // Sorted 10 20 30 40. Median: rank 1.5 → 25. p90: rank 2.7 → 30 + 0.7·10.
        Assert.Equal(25, s.Median, 12);
        Assert.Equal(37, s.P90, 12);
        Assert.Equal(25, s.Mean, 12);
    }

    [Fact]
    public void OneSample_IsEveryStatistic()
    {
        var s = LatencyStatistics.From([0.007]);
        Assert.Equal([0.007, 0.007, 0.007, 0.007, 0.007], new[] { s.Median, s.P90, s.Mean, s.Min, s.Max });
    }

    [Fact]
    public void MedianOfRatios_PairsSamplesByRound()
    {
        // Per-round ratios 3/1, 2/2, 2/4, 4/8 = 3, 1, 0.5, 0.5 → sorted 0.5 0.5 1 3 → median 0.75.
        Assert.Equal(0.75, LatencyStatistics.MedianOfRatios([1, 2, 4, 8], [3, 2, 2, 4]), 12);
    }

    [Fact]
    public void Refuses_NoSamples_AndUnpairedSamples()
    {
        Assert.Throws<ArgumentException>(() => LatencyStatistics.From([]));
        Assert.Throws<ArgumentException>(() => LatencyStatistics.MedianOfRatios([1, 2], [1]));
    }
}
