using OnnxQuant.Runtime.Calibration.Statistics;

namespace OnnxQuant.Passes.Calibration.Ranges.Consumer;

/// <summary>One candidate range of a tensor, named as the recipe names it (<c>max</c>, <c>99.99</c>, <c>entropy</c>, <c>mse</c>).</summary>
public readonly record struct RangeCandidate(string Name, TensorRange Range)
{
    /// <summary>
    /// The whole range and RepQ-ViT's percentiles (ALGORITHMS.md §1.2) with one more on each side. Entropy and MSE are
    /// not in the default: on ppocr the default with them measured 11.1 dB output SQNR, without them 15.1 dB
    /// (docs/ranges.md); entropy alone breaks ppocr (0% exact match), and a range the consumer sample likes can still
    /// be one that only the sample likes.
    /// </summary>
    public static readonly IReadOnlyList<string> DefaultNames = ["max", "99.9999", "99.999", "99.99", "99.9"];

    /// <summary>
    /// The candidates <paramref name="names"/> of a tensor with the signed <paramref name="histogram"/>, computed for
    /// asymmetric ranges (what insert-qdq's uint8 activations take): <c>max</c> the observed [min, max], a number p in
    /// (0, 100) the two-sided percentile (half of the 100 − p cut on each side), <c>entropy</c> ORT's KL search,
    /// <c>mse</c> the least-MSE clip of the histogram itself for <paramref name="target"/>. Equal ranges are kept once
    /// (the first name), so ties do not depend on which duplicate came first.
    /// </summary>
    public static List<RangeCandidate> For(Histogram histogram, IReadOnlyList<string> names, QuantTarget target)
    {
        var list = new List<RangeCandidate>(names.Count);
        foreach (string name in names)
        {
            var range = RangeCalculator.FromHistogram(histogram, OptionsFor(name, target));
            if (!double.IsFinite(range.Min) || !double.IsFinite(range.Max)) continue;
            if (list.Any(c => c.Range.Min == range.Min && c.Range.Max == range.Max)) continue;
            list.Add(new RangeCandidate(name, range));
        }
        return list;
    }

    /// <summary>Why <paramref name="name"/> is not a candidate name (null when it is one).</summary>
    public static string? Check(string name) =>
        name is "max" or "entropy" or "mse" ? null
        : double.TryParse(name, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double p) && p > 0 && p < 100 ? null
        : $"range candidate '{name}' is not max, entropy, mse or a percentile in (0, 100) such as 99.99";

    private static RangeOptions OptionsFor(string name, QuantTarget target) => name switch
    {
        "max" => new RangeOptions { Method = CalibrationMethod.MinMax },
        "entropy" => new RangeOptions { Method = CalibrationMethod.Entropy },
        "mse" => new RangeOptions { Method = CalibrationMethod.Mse, Target = target },
        _ => new RangeOptions { Method = CalibrationMethod.Percentile, Percentile = double.Parse(name, System.Globalization.CultureInfo.InvariantCulture) },
    };
}
