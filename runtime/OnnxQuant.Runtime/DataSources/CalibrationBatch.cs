using OnnxQuant.Ir;

namespace OnnxQuant.Runtime.DataSources;

/// <summary>
/// One model run's feeds: <see cref="SampleCount"/> samples starting at position <see cref="FirstSample"/> of the
/// order. <see cref="Origin"/> names a sample fed at its own size (an image and its shape), for the message when the
/// model cannot take that size; null when every batch has the sizes checked when the data was opened.
/// </summary>
public sealed record CalibrationBatch(int Index, int FirstSample, int SampleCount, IReadOnlyDictionary<string, Tensor> Feeds, string? Origin = null);
