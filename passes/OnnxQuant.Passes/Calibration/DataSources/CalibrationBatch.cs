using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Calibration.DataSources;

/// <summary>One model run's feeds: <see cref="SampleCount"/> samples starting at position <see cref="FirstSample"/> of the order.</summary>
public sealed record CalibrationBatch(int Index, int FirstSample, int SampleCount, IReadOnlyDictionary<string, Tensor> Feeds);
