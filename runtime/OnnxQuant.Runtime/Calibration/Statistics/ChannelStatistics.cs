namespace OnnxQuant.Runtime.Calibration.Statistics;

/// <summary>
/// Statistics per channel along one axis: min/max (abs-max for SmoothQuant, mean |x| for AWQ), the signed sum of
/// the finite values (mean x for bias correction) and optionally a histogram per channel (RepQ-ViT's per-channel
/// percentiles). Each batch's values of a channel are one batch for that channel's statistics, whatever their layout.
/// </summary>
/// <remarks>Each batch's signed sum of a channel is formed in double and added exactly (<see cref="ExactSum"/>):
/// shards split at batch boundaries merge into exactly one run's sums.</remarks>
public sealed class ChannelStatistics
{
    private float[] _scratch = [];

    public ChannelStatistics(int axis, int channels, HistogramKind histogram = HistogramKind.None, int histogramResolution = 512,
        bool movingAverage = false, double averagingConstant = MinMaxStatistic.DefaultAveragingConstant)
    {
        if (axis < 0) throw new ArgumentOutOfRangeException(nameof(axis), axis, "Resolve the axis against the rank first.");
        if (channels <= 0) throw new ArgumentOutOfRangeException(nameof(channels), channels, "A channel axis needs at least one channel.");
        Axis = axis;
        MinMax = new MinMaxStatistic[channels];
        for (int c = 0; c < channels; c++) MinMax[c] = new MinMaxStatistic(movingAverage, averagingConstant);
        ExactSums = new ExactSum[channels];
        for (int c = 0; c < channels; c++) ExactSums[c] = new ExactSum();
        if (histogram != HistogramKind.None)
        {
            Histograms = new Histogram[channels];
            for (int c = 0; c < channels; c++) Histograms[c] = new Histogram(histogramResolution, histogram == HistogramKind.Absolute);
        }
    }

    private ChannelStatistics(int axis, MinMaxStatistic[] minMax, ExactSum[]? sums, Histogram[]? histograms)
    {
        Axis = axis;
        MinMax = minMax;
        ExactSums = sums;
        Histograms = histograms;
    }

    /// <summary>The channel axis (non-negative).</summary>
    public int Axis { get; }

    public int Channels => MinMax.Length;
    public MinMaxStatistic[] MinMax { get; }
    public Histogram[]? Histograms { get; }

    /// <summary>Per channel, the sum of its finite values (Σx over <see cref="MinMaxStatistic.Count"/> values), exactly;
    /// null for statistics read from files written before the signed sums were kept.</summary>
    public ExactSum[]? ExactSums { get; private set; }

    /// <summary>Per channel, the sum of its finite values rounded to double (NaN where unknown, see <see cref="ExactSums"/>).</summary>
    public double[] Sums => ExactSums is { } sums ? Array.ConvertAll(sums, s => s.Value) : Enumerable.Repeat(double.NaN, Channels).ToArray();

    public double[] AbsMax() => Array.ConvertAll(MinMax, m => m.AbsMax);
    public double[] MeanAbs() => Array.ConvertAll(MinMax, m => m.MeanAbs);

    /// <summary>Per channel, the mean of its finite values (NaN for a channel that saw none).</summary>
    public double[] Mean()
    {
        var mean = new double[Channels];
        var sums = Sums;
        for (int c = 0; c < mean.Length; c++) mean[c] = MinMax[c].IsEmpty ? double.NaN : sums[c] / MinMax[c].Count;
        return mean;
    }

    /// <summary>Adds one batch laid out as <paramref name="dims"/> (row-major).</summary>
    public void Add(ReadOnlySpan<float> values, ReadOnlySpan<long> dims)
    {
        if (Axis >= dims.Length || dims[Axis] != Channels)
            throw new ArgumentException($"Per-channel statistics along axis {Axis} expect {Channels} channels; the tensor has shape [{string.Join(",", dims.ToArray())}].");
        long outer = 1, inner = 1;
        for (int i = 0; i < Axis; i++) outer *= dims[i];
        for (int i = Axis + 1; i < dims.Length; i++) inner *= dims[i];
        int perChannel = checked((int)(outer * inner));
        // Gather each channel's values contiguously, so each channel sees exactly one batch.
        if (_scratch.Length < values.Length) _scratch = new float[values.Length];
        var scratch = _scratch.AsSpan(0, values.Length);
        int C = Channels, n = (int)inner;
        for (long o = 0; o < outer; o++)
            for (int c = 0; c < C; c++)
                values.Slice((int)((o * C + c) * inner), n).CopyTo(scratch.Slice((int)(c * (long)perChannel + o * inner), n));
        for (int c = 0; c < C; c++)
        {
            var channel = scratch.Slice(c * perChannel, perChannel);
            MinMax[c].Add(channel);
            ExactSums?[c].Add(FiniteSum(channel));
            Histograms?[c].Add(channel);
        }
    }

    public void Merge(ChannelStatistics other)
    {
        if (other.Axis != Axis || other.Channels != Channels)
            throw new ArgumentException($"Cannot merge {other.Channels} channels along axis {other.Axis} into {Channels} along axis {Axis}.", nameof(other));
        if ((Histograms is null) != (other.Histograms is null))
            throw new ArgumentException("Cannot merge per-channel statistics with and without histograms.", nameof(other));
        // A side without sums (an old file) leaves the merged sums unknown.
        if (other.ExactSums is null) ExactSums = null;
        for (int c = 0; c < Channels; c++)
        {
            MinMax[c].Merge(other.MinMax[c]);
            if (ExactSums is { } mine && other.ExactSums is { } theirs) mine[c].Add(theirs[c]);
            Histograms?[c].Merge(other.Histograms![c]);
        }
    }

    public ChannelStatistics Clone() =>
        new(Axis, Array.ConvertAll(MinMax, m => m.Clone()), ExactSums is null ? null : Array.ConvertAll(ExactSums, s => s.Clone()), Histograms is null ? null : Array.ConvertAll(Histograms, h => h.Clone()));

    /// <param name="sums">Null for files written before the signed sums were kept: means are then unknown (NaN).</param>
    internal static ChannelStatistics Restore(int axis, MinMaxStatistic[] minMax, ExactSum[]? sums, Histogram[]? histograms)
    {
        if (axis < 0) throw new FormatException("the channel axis is negative");
        if (minMax.Length == 0) throw new FormatException("no channels");
        if (histograms is not null && histograms.Length != minMax.Length)
            throw new FormatException($"{histograms.Length} histograms for {minMax.Length} channels");
        if (sums is not null && sums.Length != minMax.Length)
            throw new FormatException($"{sums.Length} sums for {minMax.Length} channels");
        return new ChannelStatistics(axis, minMax, sums, histograms);
    }

    /// <summary>Σx over the finite values, in double (NaN and ±∞ are left out, as <see cref="MinMaxStatistic"/> leaves them out of its count).</summary>
    private static double FiniteSum(ReadOnlySpan<float> values)
    {
        double sum = 0;
        foreach (float v in values)
            if (float.IsFinite(v)) sum += v;
        return sum;
    }
}
