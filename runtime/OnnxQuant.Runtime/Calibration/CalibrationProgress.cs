namespace OnnxQuant.Runtime.Calibration;

/// <summary>
/// Where a calibration run stands, for a progress bar: pass <see cref="Pass"/> of <see cref="Passes"/> (one per chunk
/// of tensors), samples done in this pass and overall, throughput and the estimated time left.
/// </summary>
public readonly record struct CalibrationProgress(
    int Pass,
    int Passes,
    long PassSamplesDone,
    long SamplesPerPass,
    long TotalSamplesDone,
    long TotalSamples,
    double SamplesPerSecond,
    TimeSpan Elapsed,
    TimeSpan? Remaining)
{
    public double Fraction => TotalSamples == 0 ? 1 : (double)TotalSamplesDone / TotalSamples;
}
