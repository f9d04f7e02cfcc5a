using OnnxQuant.Passes.Quantization;

namespace OnnxQuant.Tests.Quantization;

/// <summary>Activation ranges from a dictionary: what the calibration engine provides, for tests.</summary>
internal sealed class DictionaryRanges : IActivationRanges
{
    public Dictionary<string, (float Min, float Max)> Ranges { get; } = new(StringComparer.Ordinal);

    public bool TryGetRange(string tensorName, out float min, out float max)
    {
        bool found = Ranges.TryGetValue(tensorName, out var r);
        (min, max) = r;
        return found;
    }
}
