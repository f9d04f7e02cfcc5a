using System.Diagnostics;

namespace OnnxQuant.Runtime.Benchmarking;

/// <summary>The high-resolution monotonic clock of <see cref="Stopwatch"/>.</summary>
public sealed class StopwatchClock : IBenchmarkClock
{
    public static StopwatchClock Instance { get; } = new();

    private StopwatchClock() { }

    public long GetTimestamp() => Stopwatch.GetTimestamp();

    public long Frequency => Stopwatch.Frequency;
}
