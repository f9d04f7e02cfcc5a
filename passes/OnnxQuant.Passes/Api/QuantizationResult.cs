using OnnxQuant.Passes;
using OnnxQuant.Passes.Recipes;

namespace OnnxQuant;

/// <summary>What <see cref="Quantizer"/> did: the file it wrote, the model before and after, each pass's runs and counters, calibration, provenance.</summary>
public sealed class QuantizationResult
{
    public required Recipe Recipe { get; init; }

    /// <summary>The model file written (full path).</summary>
    public required string OutputPath { get; init; }

    /// <summary>OUT.data when large tensors went to external data, else null.</summary>
    public string? ExternalDataPath { get; init; }

    /// <summary>Bytes written (the model file and its external data).</summary>
    public long BytesWritten => After.FileBytes ?? 0;

    public required ModelStatistics Before { get; init; }
    public required ModelStatistics After { get; init; }

    /// <summary>Every pass run with its time; <see cref="PipelineResult.TimeByPass"/> sums them per pass.</summary>
    public required PipelineResult Pipeline { get; init; }

    /// <summary>The passes' statistics counters, keyed <c>pass.counter</c> (e.g. <c>insert-qdq.quantized</c>).</summary>
    public required IReadOnlyDictionary<string, long> Counters { get; init; }

    /// <summary>Why patterns did not fire: <c>pass.pattern</c> → reason → times.</summary>
    public required IReadOnlyDictionary<string, IReadOnlyDictionary<string, long>> Misses { get; init; }

    /// <summary>What calibration saw; null when the recipe does not calibrate.</summary>
    public CalibrationSummary? Calibration { get; init; }

    /// <summary>The provenance metadata written into the output (<c>onnxquant.version</c>, <c>.recipe</c>, <c>.recipe_sha256</c>, <c>.seed</c>, <c>.calibration</c>).</summary>
    public required IReadOnlyList<KeyValuePair<string, string>> Provenance { get; init; }
}
