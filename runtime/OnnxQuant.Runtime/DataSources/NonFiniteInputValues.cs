using OnnxQuant.Ir;

namespace OnnxQuant.Runtime.DataSources;

/// <summary>
/// How many calibration values of each model input are NaN or ±∞. Calibration observers skip such values, so without
/// this count a data file of NaN (or one with a few stray NaN) calibrates silently on what is left, or on nothing:
/// <see cref="Report"/> refuses data with no finite value at all and warns once per input about the rest.
/// </summary>
public sealed class NonFiniteInputValues
{
    private readonly Dictionary<string, (long NonFinite, long Total)> _counts = new(StringComparer.Ordinal);

    /// <summary>Counts the non-finite values of one batch of <paramref name="input"/> (float, float16, bfloat16 only).</summary>
    public void Add(string input, Tensor batch)
    {
        if (batch.ElementType is not (DataType.Float or DataType.Float16 or DataType.BFloat16)) return;
        long bad = 0;
        if (batch.ElementType == DataType.Float)
            foreach (float v in batch.AsSpan<float>()) { if (!float.IsFinite(v)) bad++; }
        else
            foreach (float v in batch.ToFloatArray()) { if (!float.IsFinite(v)) bad++; }
        var (n, total) = _counts.GetValueOrDefault(input);
        _counts[input] = (n + bad, total + batch.ElementCount);
    }

    /// <summary>(non-finite, total) values of <paramref name="input"/> seen; (0, 0) when none were.</summary>
    public (long NonFinite, long Total) Of(string input) => _counts.GetValueOrDefault(input);

    /// <summary>
    /// Throws when some input's data holds no finite value (calibration would have nothing to measure); logs one
    /// warning per input whose data holds some NaN/∞ (ignored by the observers).
    /// </summary>
    public void Report(string description, Action<string> log)
    {
        foreach (var (input, (bad, total)) in _counts.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            if (bad == 0) continue;
            if (bad == total)
                throw new OnnxQuantException($"The calibration data for input '{input}' ({description}) has no finite values: all {total} are NaN or Inf. "
                    + "Check how the data was made (a division by zero in preprocessing?) and give finite data.");
            log($"calibrate: warning: {bad} of {total} values of input '{input}' in {description} are NaN or Inf; calibration ignores them.");
        }
    }
}
