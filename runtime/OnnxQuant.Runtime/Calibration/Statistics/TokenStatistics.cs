namespace OnnxQuant.Runtime.Calibration.Statistics;

/// <summary>
/// Per-token statistics of an activation laid out as tokens × hidden (the last axis is the hidden size, every other
/// axis counts tokens): the distribution of each token's abs-max max_j |x_tj| over all tokens seen, as min/max/mean
/// and an |x| histogram. That is what per-token (dynamic, row-wise) activation quantization and outlier-token
/// analysis read; the number of tokens grows with the data, so only mergeable summaries of the per-token values are
/// kept, never the values themselves.
/// </summary>
/// <remarks>Merging is exact for min, max, count and the histogram (see <see cref="Statistics.Histogram"/>), the sum
/// up to rounding, as for <see cref="MinMaxStatistic"/>. Tokens with a NaN or ±∞ are counted in the
/// <see cref="MinMaxStatistic.NonFinite"/> of <see cref="AbsMax"/> and left out of the rest.</remarks>
public sealed class TokenStatistics
{
    private float[] _rowMax = [];

    public TokenStatistics(int hidden, int histogramResolution = 512)
    {
        if (hidden <= 0) throw new ArgumentOutOfRangeException(nameof(hidden), hidden, "A token needs at least one value.");
        Hidden = hidden;
        AbsMax = new MinMaxStatistic();
        Histogram = new Histogram(histogramResolution, absolute: true);
    }

    private TokenStatistics(int hidden, MinMaxStatistic absMax, Histogram histogram)
    {
        Hidden = hidden;
        AbsMax = absMax;
        Histogram = histogram;
    }

    /// <summary>Values per token (the last axis).</summary>
    public int Hidden { get; }

    /// <summary>Min, max, count and mean of the per-token abs-max values (Count = tokens seen).</summary>
    public MinMaxStatistic AbsMax { get; }

    /// <summary>Histogram of the per-token abs-max values (e.g. the 99th percentile token).</summary>
    public Histogram Histogram { get; }

    /// <summary>Adds the tokens of <paramref name="values"/> (length a multiple of <see cref="Hidden"/>).</summary>
    public void Add(ReadOnlySpan<float> values)
    {
        if (values.Length % Hidden != 0)
            throw new ArgumentException($"{values.Length} values do not form tokens of {Hidden}.", nameof(values));
        int tokens = values.Length / Hidden;
        if (_rowMax.Length < tokens) _rowMax = new float[tokens];
        var rowMax = _rowMax.AsSpan(0, tokens);
        for (int t = 0; t < tokens; t++)
        {
            var row = values.Slice(t * Hidden, Hidden);
            bool finite = FloatScan.Scan(row, absolute: true, out _, out float max, out _);
            rowMax[t] = finite ? max : float.NaN;
        }
        AbsMax.Add(rowMax);
        Histogram.Add(rowMax);
    }

    public void Merge(TokenStatistics other)
    {
        if (other.Hidden != Hidden) throw new ArgumentException($"Cannot merge tokens of {other.Hidden} values into tokens of {Hidden}.", nameof(other));
        AbsMax.Merge(other.AbsMax);
        Histogram.Merge(other.Histogram);
    }

    public TokenStatistics Clone() => new(Hidden, AbsMax.Clone(), Histogram.Clone());

    internal static TokenStatistics Restore(int hidden, MinMaxStatistic absMax, Histogram histogram)
    {
        if (hidden <= 0) throw new FormatException("hidden must be positive");
        if (!histogram.Absolute) throw new FormatException("the per-token histogram must be of |x|");
        return new TokenStatistics(hidden, absMax, histogram);
    }
}
