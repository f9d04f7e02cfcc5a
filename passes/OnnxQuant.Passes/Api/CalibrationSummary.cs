using OnnxQuant.Passes.Calibration;
using OnnxQuant.Runtime.Calibration.Statistics;

namespace OnnxQuant;

/// <summary>What calibration saw: how many samples of which data, and the statistics and ranges it computed.</summary>
/// <param name="Samples">Samples the model ran on (or that the reused statistics were collected over).</param>
/// <param name="Tensors">Activations observed.</param>
/// <param name="Data">The data as the provenance metadata names it (a file name, the in-memory samples' description…).</param>
/// <param name="Statistics">Per-tensor statistics (saveable as JSON).</param>
/// <param name="Result">The ranges the quantization passes read, and how they were computed.</param>
public sealed record CalibrationSummary(long Samples, int Tensors, string Data, CalibrationStatistics Statistics, CalibrationResult? Result);
