using OnnxQuant.Passes.Calibration.Ranges;
using OnnxQuant.Passes.Calibration.Statistics;

namespace OnnxQuant.Passes.Calibration;

/// <summary>
/// What the <c>calibrate</c> pass leaves in the <see cref="PassContext"/> for the quantization passes after it: the
/// statistics (keyed by tensor name) and each tensor's range under the pass's method.
/// </summary>
public sealed record CalibrationResult(CalibrationStatistics Statistics, RangeOptions Options, IReadOnlyDictionary<string, TensorRange> Ranges);
