using System.Text;
using OnnxQuant.Runtime.Benchmarking;

namespace OnnxQuant.Tests.Bench;

public class LatencyLoopTests
{
    /// <summary>A clock that moves only when a fake target says it took time: 1000 ticks per second.</summary>
    private sealed class FakeClock : IBenchmarkClock
    {
        public long Now { get; set; }
        public long GetTimestamp() => Now;
        public long Frequency => 1000;
    }

    [Fact]
    public void TwoTargets_RunInterleaved_AlternatingWhichGoesFirst()
    {
        var log = new StringBuilder();
        var clock = new FakeClock();
        var m = LatencyLoop.Measure([() => log.Append('A'), () => log.Append('B')], warmup: 2, runs: 3, minSeconds: 0, clock);
        // Two warm-up rounds, then three timed ones; the alternation carries on across the two phases.
        Assert.Equal("AB" + "BA" + "AB" + "BA" + "AB", log.ToString());
        Assert.Equal(3, m.Rounds);
        Assert.All(m.Seconds, s => Assert.Equal(3, s.Count));
    }

    [Fact]
    public void OneTarget_WarmupRunsAreNotTimed()
    {
        int calls = 0;
        var m = LatencyLoop.Measure([() => calls++], warmup: 4, runs: 3, minSeconds: 0, new FakeClock());
        Assert.Equal(7, calls);
        Assert.Equal(3, Assert.Single(m.Seconds).Count);
    }

    [Fact]
    public void Samples_AreEachRunsOwnDuration_PairedByRound()
    {
        var clock = new FakeClock();
        int round = 0;
        // A takes 10 ms; B takes 30 ms, plus 1 ms more each round, so samples are told apart by round.
        var m = LatencyLoop.Measure(
            [() => clock.Now += 10, () => clock.Now += 30 + round++],
            warmup: 1, runs: 4, minSeconds: 0, clock);
        Assert.Equal([0.010, 0.010, 0.010, 0.010], m.Seconds[0]);
        Assert.Equal([0.031, 0.032, 0.033, 0.034], m.Seconds[1].Select(s => Math.Round(s, 9)));
        Assert.Equal(0.010 * 4 + 0.031 + 0.032 + 0.033 + 0.034, m.ElapsedSeconds, 9);
        // Per-round ratios 3.1, 3.2, 3.3, 3.4 → median 3.25.
        Assert.Equal(3.25, LatencyStatistics.MedianOfRatios(m.Seconds[0], m.Seconds[1]), 9);
    }

    [Theory]
    [InlineData(0.0, 2, 2)]   // no floor: exactly the runs asked for
    [InlineData(1.0, 2, 5)]   // 0.2 s a round: five rounds reach one second
    [InlineData(0.3, 7, 7)]   // the run count already passes the floor
    public void MinSeconds_AddsRoundsUntilBothTheCountAndTheTimeFloorAreMet(double minSeconds, int runs, int expectedRounds)
    {
        var clock = new FakeClock();
        var m = LatencyLoop.Measure([() => clock.Now += 100, () => clock.Now += 100], warmup: 0, runs, minSeconds, clock);
        Assert.Equal(expectedRounds, m.Rounds);
        Assert.True(m.ElapsedSeconds >= minSeconds);
    }
}
