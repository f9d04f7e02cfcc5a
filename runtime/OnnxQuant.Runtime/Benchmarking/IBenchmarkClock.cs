namespace OnnxQuant.Runtime.Benchmarking;

/// <summary>
/// The time source of <see cref="LatencyLoop"/>: <see cref="StopwatchClock"/> in real runs, a fake in tests, so that
/// what the loop does with times (order, ratios, the time floor) can be checked without depending on real time.
/// </summary>
public interface IBenchmarkClock
{
    /// <summary>A monotonic timestamp, in ticks.</summary>
    long GetTimestamp();

    /// <summary>Ticks per second.</summary>
    long Frequency { get; }
}
