namespace OnnxQuant.Runtime.Benchmarking;

/// <summary>
/// What <see cref="LatencyLoop.Measure"/> timed: for each target, the latency of each round in seconds (index r of
/// every list is the same round, so rounds can be paired), and the wall time of the timed phase.
/// </summary>
public sealed record LatencyMeasurement(IReadOnlyList<IReadOnlyList<double>> Seconds, double ElapsedSeconds)
{
    public int Rounds => Seconds.Count == 0 ? 0 : Seconds[0].Count;
}
