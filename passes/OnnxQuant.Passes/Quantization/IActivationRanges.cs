namespace OnnxQuant.Passes.Quantization;

/// <summary>
/// Calibrated value ranges of activation tensors, looked up by tensor name. The calibration engine implements it and
/// puts it in the <see cref="PassContext"/> (<c>context.SetAnalysis&lt;IActivationRanges&gt;(ranges)</c>) before
/// <see cref="QdqInsertionPass"/> runs. Names are the ones the model had when it was calibrated, so no pass that
/// renames or rewrites activations may run between calibration and QDQ insertion.
/// </summary>
public interface IActivationRanges
{
    /// <summary>The range of <paramref name="tensorName"/> as the calibrator chose it (min/max, percentile...); false when it was not calibrated.</summary>
    bool TryGetRange(string tensorName, out float min, out float max);
}
