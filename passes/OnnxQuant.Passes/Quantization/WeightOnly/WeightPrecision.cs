using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Quantization.WeightOnly;

/// <summary>Parses the <c>lm-head</c> and <c>embedding</c> options: <c>float</c> (null bits) or a bit width.</summary>
internal static class WeightPrecision
{
    /// <returns>The bit width, or null for float.</returns>
    public static int? Parse(string text, string option, string pass, Func<int, bool> supported, string supportedText)
    {
        string t = text.Trim();
        if (t.Equals("float", StringComparison.OrdinalIgnoreCase)) return null;
        if (int.TryParse(t, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int bits) && supported(bits))
            return bits;
        throw new OnnxQuantException(
            $"{pass}: option '{option}' is '{text}'; write float or a bit width ({supportedText}), e.g. '{option}: 8'.");
    }
}
