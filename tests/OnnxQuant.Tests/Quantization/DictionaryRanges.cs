using OnnxQuant.Ir;
using OnnxQuant.Passes.Quantization;

namespace OnnxQuant.Tests.Quantization;

/// <summary>
/// Activation ranges from a dictionary keyed by the tensor names ORT reported them under (a test's stand-in for
/// calibration, which maps names to values the same way at its boundary).
/// </summary>
internal sealed class DictionaryRanges : IActivationRanges
{
    public Dictionary<string, (float Min, float Max)> Ranges { get; } = new(StringComparer.Ordinal);

    public bool TryGetRange(Value tensor, out float min, out float max)
    {
        var r = default((float Min, float Max));
        bool found = tensor.Name is { } name && Ranges.TryGetValue(name, out r);
        (min, max) = r;
        return found;
    }
}
