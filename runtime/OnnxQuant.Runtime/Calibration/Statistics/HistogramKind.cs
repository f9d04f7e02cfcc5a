namespace OnnxQuant.Runtime.Calibration.Statistics;

/// <summary>Which histogram an observer keeps: none, of |x| (symmetric ranges, ORT's percentile calibrator) or of
/// signed x (asymmetric ranges, ORT's entropy calibrator).</summary>
public enum HistogramKind
{
    None,
    Absolute,
    Signed,
}
