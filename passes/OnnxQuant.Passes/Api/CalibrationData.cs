using OnnxQuant.Ir;
using OnnxQuant.Runtime.DataSources;

namespace OnnxQuant;

/// <summary>
/// What <see cref="Quantizer"/> calibrates on, and how much of it; the same choices as the command line's
/// <c>--data</c>, <c>--count</c>, <c>--skip</c>, <c>--shape</c>, <c>--image</c>, <c>--load-calib</c> and
/// <c>--save-calib</c>, and like them they override the recipe's <c>calibration:</c> section. Leave a property null
/// to keep the recipe's choice.
/// </summary>
public sealed record CalibrationData
{
    /// <summary>Samples held in memory; they take precedence over <see cref="Path"/>.</summary>
    public CalibrationSamples? Samples { get; init; }

    /// <summary>A .npy/.npz file, a folder of NAME.npy files or images, or <c>random</c>.</summary>
    public string? Path { get; init; }

    /// <summary>Statistics saved earlier (<see cref="SaveStatisticsTo"/>) to reuse instead of running the model.</summary>
    public string? LoadStatisticsFrom { get; init; }

    /// <summary>Where to save the collected statistics (JSON), to reuse them.</summary>
    public string? SaveStatisticsTo { get; init; }

    /// <summary>Run the model whole or one block at a time (as <c>--block-wise</c>); null keeps the calibrate step's <c>block-wise</c>.</summary>
    public OnnxQuant.Runtime.Calibration.BlockWiseMode? BlockWise { get; init; }

    /// <summary>Use at most this many samples (after <see cref="Skip"/>).</summary>
    public int? Count { get; init; }

    /// <summary>Pass over the first N samples.</summary>
    public int? Skip { get; init; }

    /// <summary>The shape of one sample as fed, per input, fixing free dimensions (as <c>--shape NAME=D0,D1,…</c>).</summary>
    public IReadOnlyDictionary<string, long[]>? Shapes { get; init; }

    /// <summary>Image preprocessing for a folder of images, <c>KEY=VALUE</c> with the keys of the recipe's <c>calibration.images</c> (as <c>--image</c>).</summary>
    public IReadOnlyList<string> Image { get; init; } = [];

    /// <summary>
    /// In-memory samples, one dictionary of named tensors per sample (input name → tensor of one batch item, or of a
    /// whole feed); <paramref name="description"/> is what the provenance metadata and messages call them.
    /// </summary>
    public static CalibrationData FromSamples(IEnumerable<IReadOnlyDictionary<string, Tensor>> samples, string description = "in-memory samples") =>
        new() { Samples = new CalibrationSamples(samples, description) };

    /// <summary>A .npy/.npz file, a folder of NAME.npy files or images, or <c>random</c> (as <c>--data</c>).</summary>
    public static CalibrationData FromPath(string path) => new() { Path = path };

    /// <summary>Statistics saved by an earlier run (as <c>--load-calib</c>): no model run, no data needed.</summary>
    public static CalibrationData FromStatistics(string statisticsFile) => new() { LoadStatisticsFrom = statisticsFile };
}
