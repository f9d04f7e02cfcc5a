using OnnxQuant.Passes.Calibration;

namespace OnnxQuant.Passes.Quantization;

/// <summary>The ranges the <c>calibrate</c> pass left in the context (<see cref="CalibrationResult"/>), seen as <see cref="IActivationRanges"/>.</summary>
internal sealed class CalibrationRanges(CalibrationResult result) : IActivationRanges
{
    public bool TryGetRange(string tensorName, out float min, out float max)
    {
        bool found = result.Ranges.TryGetValue(tensorName, out var range);
        (min, max) = ((float)range.Min, (float)range.Max);
        return found;
    }
}
