namespace OnnxQuant.Passes.Quantization.AutoPrecision;

/// <summary>
/// The command line's (or library caller's) settings for an <c>auto-precision</c> step, on top of the recipe's
/// options: <c>--target</c>, <c>--max-latency</c>, <c>--max-minutes</c>, <c>--labels</c>, <c>--keys</c>. Null keeps the recipe's.
/// </summary>
public sealed record AutoPrecisionSettings
{
    public string? Target { get; init; }
    public double? MaxLatency { get; init; }
    public double? MaxMinutes { get; init; }
    public string? Labels { get; init; }
    public string? Keys { get; init; }

    public bool IsEmpty => Target is null && MaxLatency is null && MaxMinutes is null && Labels is null && Keys is null;
}
