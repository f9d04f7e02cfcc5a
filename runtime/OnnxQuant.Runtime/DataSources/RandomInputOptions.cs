namespace OnnxQuant.Runtime.DataSources;

/// <summary>
/// Synthetic calibration inputs (<c>--data random</c>): floats uniform in [Low, High) unless <see cref="Ranges"/>
/// gives an input its own; integer inputs that index an embedding table (a Gather on a constant) are token ids in
/// [0, rows); other integers are uniform in [0, <see cref="IntegerHigh"/>). Each sample is generated from the seed
/// and its index alone, so every pass over the data sees the same values.
/// </summary>
public sealed record RandomInputOptions
{
    public const int DefaultCount = 256;

    public double Low { get; init; } = -1;
    public double High { get; init; } = 1;
    public long IntegerHigh { get; init; } = 8;

    /// <summary>Per-input [low, high) ranges (for integers, high is exclusive).</summary>
    public IReadOnlyDictionary<string, (double Low, double High)> Ranges { get; init; } = new Dictionary<string, (double, double)>();
}
