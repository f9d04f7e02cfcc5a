using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Quantization;

/// <summary>
/// Calibrated value ranges of activation tensors, looked up by IR value (identity, not name). The <c>calibrate</c>
/// pass's <see cref="Calibration.CalibrationResult"/> implements it; a test or an embedding application may put its
/// own in the <see cref="PassContext"/> (<c>context.SetAnalysis&lt;IActivationRanges&gt;(ranges)</c>) before
/// <see cref="InsertQdqPass"/> runs.
/// </summary>
public interface IActivationRanges
{
    /// <summary>The range of <paramref name="tensor"/> as the calibrator chose it (min/max, percentile...); false when it was not calibrated.</summary>
    bool TryGetRange(Value tensor, out float min, out float max);
}
