namespace OnnxQuant.Runtime.Benchmarking;

/// <summary>
/// Times several targets in one process, interleaved round by round. In each round every target runs once; even
/// rounds run them in the given order, odd rounds in reverse (A, B, B, A, A, B ...). Interleaving makes drift in the
/// machine's load (other processes, thermal limits, frequency changes) hit every target alike, so their ratio stays
/// meaningful on a busy machine where absolute times do not; alternating who goes first cancels the advantage of
/// running right after the other model (warm caches, or a core that has just been woken).
/// </summary>
public static class LatencyLoop
{
    /// <param name="targets">What to time, e.g. one model run each.</param>
    /// <param name="warmup">Untimed rounds first (ORT allocates and tunes on the first runs).</param>
    /// <param name="runs">Timed rounds, at least.</param>
    /// <param name="minSeconds">Keep adding timed rounds until the timed phase has lasted this long.</param>
    public static LatencyMeasurement Measure(IReadOnlyList<Action> targets, int warmup, int runs, double minSeconds, IBenchmarkClock clock)
    {
        ArgumentOutOfRangeException.ThrowIfZero(targets.Count);
        ArgumentOutOfRangeException.ThrowIfNegative(warmup);
        ArgumentOutOfRangeException.ThrowIfLessThan(runs, 1);
        var samples = targets.Select(_ => new List<double>()).ToArray();
        double frequency = clock.Frequency;
        int round = 0;
        for (int w = 0; w < warmup; w++, round++)
            foreach (int t in Order(round, targets.Count)) targets[t]();

        long start = clock.GetTimestamp();
        double Elapsed() => (clock.GetTimestamp() - start) / frequency;
        for (int r = 0; r < runs || Elapsed() < minSeconds; r++, round++)
        {
            foreach (int t in Order(round, targets.Count))
            {
                long before = clock.GetTimestamp();
                targets[t]();
                long after = clock.GetTimestamp();
                samples[t].Add((after - before) / frequency);
            }
        }
        return new LatencyMeasurement(samples, Elapsed());
    }

    private static IEnumerable<int> Order(int round, int count) =>
        round % 2 == 0 ? Enumerable.Range(0, count) : Enumerable.Range(0, count).Reverse();
}
