namespace OnnxQuant.Runtime.Benchmarking;

/// <summary>
/// Summary of latency samples, in seconds. Percentiles interpolate linearly between the sorted samples (rank
/// p·(n−1), numpy's default), so the median of an even count is the mean of the middle two. Throughput is runs per
/// second of one stream of sequential runs: 1 / mean.
/// </summary>
public sealed record LatencyStatistics(int Runs, double Median, double P90, double Mean, double Min, double Max)
{
    public double Throughput => 1 / Mean;

    public static LatencyStatistics From(IReadOnlyList<double> samples)
    {
        if (samples.Count == 0) throw new ArgumentException("No samples.", nameof(samples));
        var sorted = samples.Order().ToArray();
        return new LatencyStatistics(sorted.Length, Percentile(sorted, 0.5), Percentile(sorted, 0.9), sorted.Average(), sorted[0], sorted[^1]);
    }

    /// <summary>The <paramref name="p"/>-quantile (0 ≤ p ≤ 1) of samples sorted in ascending order.</summary>
    public static double Percentile(IReadOnlyList<double> sorted, double p)
    {
        if (sorted.Count == 0) throw new ArgumentException("No samples.", nameof(sorted));
        ArgumentOutOfRangeException.ThrowIfLessThan(p, 0);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(p, 1);
        double rank = p * (sorted.Count - 1);
        int low = (int)Math.Floor(rank);
        int high = Math.Min(low + 1, sorted.Count - 1);
        return sorted[low] + (rank - low) * (sorted[high] - sorted[low]);
    }

    /// <summary>
    /// The median over rounds of <c>b[r] / a[r]</c>. Pairing by round is the point of interleaving: a load spike that
    /// slows one round slows both of its runs, so the per-round ratio barely moves while each median would.
    /// </summary>
    public static double MedianOfRatios(IReadOnlyList<double> a, IReadOnlyList<double> b)
    {
        if (a.Count != b.Count) throw new ArgumentException($"Unpaired samples: {a.Count} and {b.Count}.");
        return Percentile(a.Zip(b, (x, y) => y / x).Order().ToArray(), 0.5);
    }
}
