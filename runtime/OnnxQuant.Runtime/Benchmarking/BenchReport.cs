namespace OnnxQuant.Runtime.Benchmarking;

/// <summary>
/// The result of <see cref="LatencyBenchmark.Run"/>, serialized as-is by <c>onnxquant bench --json</c>; property names
/// and meanings are the documented format (passes/OnnxQuant.Cli/docs/bench-json.md). Latencies are in milliseconds.
/// </summary>
public sealed record BenchReport(
    int SchemaVersion,
    int Threads,
    int Warmup,
    double MinSeconds,
    int Seed,
    bool Interleaved,
    double ElapsedSeconds,
    IReadOnlyList<BenchReport.InputEntry> Inputs,
    IReadOnlyList<BenchReport.ModelEntry> Models,
    BenchReport.ComparisonEntry? Comparison)
{
    /// <summary>A fed input: ONNX element type name and the sizes it was fed at.</summary>
    public sealed record InputEntry(string Name, string ElementType, IReadOnlyList<long> Shape);

    /// <summary>
    /// One model: <see cref="Label"/> is "A" or "B"; sizes are the model file, its external data files (each counted
    /// once) and their sum.
    /// </summary>
    public sealed record ModelEntry(
        string Label,
        string File,
        long FileBytes,
        long ExternalDataBytes,
        long TotalBytes,
        int Runs,
        LatencyEntry Latency,
        double ThroughputPerSecond,
        IReadOnlyList<double> SamplesMs);

    public sealed record LatencyEntry(double MedianMs, double P90Ms, double MeanMs, double MinMs, double MaxMs);

    /// <summary>
    /// B relative to A. <see cref="LatencyRatio"/> is the median of per-round ratios (robust to load drift; the number
    /// to quote), <see cref="LatencyRatioOfMedians"/> the ratio of the two medians; below 1 means B is faster.
    /// </summary>
    public sealed record ComparisonEntry(double LatencyRatio, double LatencyRatioOfMedians, double SizeRatio);
}
