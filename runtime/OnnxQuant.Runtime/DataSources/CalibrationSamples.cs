using OnnxQuant.Ir;

namespace OnnxQuant.Runtime.DataSources;

/// <summary>
/// Calibration samples held in memory: one set of named tensors per sample (input name → tensor), as a .NET pipeline
/// has them. Each sample of an input has the same element type and shape: one batch item (rank one less than the
/// input's) or a whole feed of the input's rank, the same two forms rows of a .npy take
/// (<see cref="CalibrationDataSource"/>). The sequence is read once, when calibration first needs it.
/// </summary>
public sealed class CalibrationSamples
{
    private readonly Lazy<IReadOnlyList<IReadOnlyDictionary<string, Tensor>>> _samples;

    /// <param name="samples">The samples, in the order they are fed.</param>
    /// <param name="description">What the samples are, for messages and the provenance metadata.</param>
    public CalibrationSamples(IEnumerable<IReadOnlyDictionary<string, Tensor>> samples, string description = "in-memory samples")
    {
        ArgumentNullException.ThrowIfNull(samples);
        ArgumentException.ThrowIfNullOrWhiteSpace(description);
        _samples = new(() => samples.ToList());
        Description = description;
    }

    public string Description { get; }

    /// <summary>The samples (the sequence given to the constructor, enumerated on first use).</summary>
    public IReadOnlyList<IReadOnlyDictionary<string, Tensor>> Samples => _samples.Value;
}
