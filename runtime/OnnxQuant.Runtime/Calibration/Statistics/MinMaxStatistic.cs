namespace OnnxQuant.Runtime.Calibration.Statistics;

/// <summary>
/// Global minimum and maximum of the finite values seen, their count and the sum of magnitudes (mean |x| for AWQ);
/// optionally ONNX Runtime's moving average of per-batch minima and maxima.
/// </summary>
/// <remarks>
/// Min, Max and Count merge exactly (merging shards equals one run). The sum of magnitudes is exact over batches
/// (<see cref="ExactSum"/>): each batch's sum (per-lane float sums of blocks of a few thousand values, added in
/// double) is added to it without rounding, so shards split at batch boundaries merge into exactly one run's sum;
/// other batch sizes differ from it up to float rounding, a relative 1e-6 at worst. The moving average m ← m + c·(batch − m) (ORT's
/// <c>averaging_constant</c>, default 0.01; the first batch sets m) depends on the order and size of batches: it is
/// a property of the run, not of the set of values, and merging two shards combines their averages weighted by
/// their batch counts, which no single run reproduces in general. NaN and ±∞ are counted in
/// <see cref="NonFinite"/> and otherwise ignored.
/// </remarks>
public sealed class MinMaxStatistic
{
    public const double DefaultAveragingConstant = 0.01;

    public MinMaxStatistic(bool movingAverage = false, double averagingConstant = DefaultAveragingConstant)
    {
        if (!(averagingConstant > 0 && averagingConstant <= 1))
            throw new ArgumentOutOfRangeException(nameof(averagingConstant), averagingConstant, "The averaging constant must be in (0, 1].");
        MovingAverage = movingAverage;
        AveragingConstant = averagingConstant;
    }

    public long Count { get; private set; }
    public long NonFinite { get; private set; }
    public double Min { get; private set; } = double.NaN;
    public double Max { get; private set; } = double.NaN;
    private ExactSum _sumAbs = new();

    /// <summary>Σ|x| over the finite values, rounded once to double.</summary>
    public double SumAbs => _sumAbs.Value;

    /// <summary>Σ|x| exactly (what the statistics file keeps, so that merged shards equal one run bit for bit).</summary>
    public ExactSum ExactSumAbs => _sumAbs;

    public bool IsEmpty => Count == 0;

    /// <summary>max(|Min|, |Max|): the per-channel statistic SmoothQuant uses.</summary>
    public double AbsMax => IsEmpty ? double.NaN : Math.Max(Math.Abs(Min), Math.Abs(Max));

    public double MeanAbs => IsEmpty ? double.NaN : SumAbs / Count;

    public bool MovingAverage { get; }
    public double AveragingConstant { get; }

    /// <summary>Batches seen (calls to <see cref="Add"/> with at least one finite value).</summary>
    public long Batches { get; private set; }

    public double MovingMin { get; private set; } = double.NaN;
    public double MovingMax { get; private set; } = double.NaN;

    /// <summary>Adds one batch of values.</summary>
    public void Add(ReadOnlySpan<float> values)
    {
        if (values.IsEmpty) return;
        bool allFinite = FloatScan.Scan(values, absolute: false, out float lo, out float hi, out double sumAbs);
        Add(values, allFinite, lo, hi, sumAbs);
    }

    /// <summary><see cref="Add(ReadOnlySpan{float})"/> with the batch's signed <see cref="FloatScan.Scan"/> already done
    /// (shared with a signed histogram of the same tensor).</summary>
    internal void Add(ReadOnlySpan<float> values, bool allFinite, float lo, float hi, double sumAbs)
    {
        if (values.IsEmpty) return;
        long finite = values.Length;
        if (!allFinite)
        {
            lo = float.PositiveInfinity;
            hi = float.NegativeInfinity;
            finite = 0;
            // The scan's sum includes the non-finite values: sum the finite ones again.
            sumAbs = 0;
            foreach (float v in values)
            {
                if (!float.IsFinite(v)) continue;
                if (v < lo) lo = v;
                if (v > hi) hi = v;
                sumAbs += Math.Abs(v);
                finite++;
            }
            NonFinite += values.Length - finite;
            if (finite == 0) return;
        }
        // The scan adds magnitudes in float lanes, which overflow for values near float's limit: add in double then.
        if (!double.IsFinite(sumAbs))
        {
            sumAbs = 0;
            foreach (float v in values)
                if (float.IsFinite(v)) sumAbs += Math.Abs(v);
        }
        Min = IsEmpty ? lo : Math.Min(Min, lo);
        Max = IsEmpty ? hi : Math.Max(Max, hi);
        Count += finite;
        _sumAbs.Add(sumAbs);
        if (MovingAverage)
        {
            if (Batches == 0)
            {
                MovingMin = lo;
                MovingMax = hi;
            }
            else
            {
                MovingMin += AveragingConstant * (lo - MovingMin);
                MovingMax += AveragingConstant * (hi - MovingMax);
            }
        }
        Batches++;
    }

    /// <summary>Combines another shard (see the remarks for what is exact).</summary>
    public void Merge(MinMaxStatistic other)
    {
        NonFinite += other.NonFinite;
        if (other.IsEmpty) return;
        if (MovingAverage && other.MovingAverage)
        {
            if (Batches == 0)
            {
                MovingMin = other.MovingMin;
                MovingMax = other.MovingMax;
            }
            else
            {
                double a = Batches, b = other.Batches;
                MovingMin = (MovingMin * a + other.MovingMin * b) / (a + b);
                MovingMax = (MovingMax * a + other.MovingMax * b) / (a + b);
            }
        }
        Min = IsEmpty ? other.Min : Math.Min(Min, other.Min);
        Max = IsEmpty ? other.Max : Math.Max(Max, other.Max);
        Count += other.Count;
        _sumAbs.Add(other._sumAbs);
        Batches += other.Batches;
    }

    public MinMaxStatistic Clone()
    {
        var c = new MinMaxStatistic(MovingAverage, AveragingConstant);
        c.Merge(this);
        return c;
    }

    internal static MinMaxStatistic Restore(long count, long nonFinite, double min, double max, ExactSum sumAbs,
        bool movingAverage, double averagingConstant, long batches, double movingMin, double movingMax)
    {
        if (count < 0 || nonFinite < 0 || batches < 0) throw new FormatException("a count is negative");
        if (count > 0 && !(min <= max)) throw new FormatException("min is greater than max");
        return new MinMaxStatistic(movingAverage, averagingConstant)
        {
            Count = count,
            NonFinite = nonFinite,
            Min = count > 0 ? min : double.NaN,
            Max = count > 0 ? max : double.NaN,
            _sumAbs = sumAbs,
            Batches = batches,
            MovingMin = movingMin,
            MovingMax = movingMax,
        };
    }
}
