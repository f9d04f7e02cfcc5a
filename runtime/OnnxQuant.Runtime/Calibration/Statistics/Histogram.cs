using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace OnnxQuant.Runtime.Calibration.Statistics;

/// <summary>
/// Counts of values (or of their magnitudes, <see cref="Absolute"/>) on a dyadic grid: the bin width w is a power of
/// two and global bin g covers [g·w, (g+1)·w), so every edge is an integer multiple of w and 0 is always an edge.
/// The histogram holds <see cref="Capacity"/> = 2·<see cref="Resolution"/> bins starting at global bin
/// <see cref="Offset"/>; w is the finest power of two whose grid covers [<see cref="Min"/>, <see cref="Max"/>] in
/// that many bins, so the observed range always spans at least <see cref="Resolution"/> bins (2048 by default, as
/// ONNX Runtime's calibrators) and the memory never grows.
/// </summary>
/// <remarks>
/// Why a dyadic grid: when the range grows, the width doubles (once or more) and each new bin is the exact union of
/// old bins, so re-binning never splits a count. The width after any sequence of batches is a function of the final
/// range alone (the finest fitting width only grows as the range grows), and every value ends in bin ⌊x/w⌋ of that
/// width. Hence two shards merge into exactly the histogram one run over all their values gives, whatever the order
/// of batches or the shard boundaries. Widths are never finer than the float32 spacing of the largest magnitude
/// (2^(⌊log₂ max|x|⌋ − 23)), which keeps global bin indexes below 2^25. NaN and ±∞ are counted in
/// <see cref="NonFinite"/> and not binned.
/// </remarks>
public sealed class Histogram
{
    public const int DefaultResolution = 2048;

    /// <summary>Smallest width exponent: the spacing of float32 subnormals (2^−149).</summary>
    private const int MinExponent = -149;

    /// <summary>Bin indexes are computed this many at a time (vectorized) into a stack buffer, then counted.</summary>
    private const int BlockLength = 256;

    private long[] _counts;

    public Histogram(int resolution = DefaultResolution, bool absolute = false)
    {
        if (resolution < 8 || resolution > 1 << 24)
            throw new ArgumentOutOfRangeException(nameof(resolution), resolution, "A histogram needs between 8 and 2^24 bins of resolution.");
        Resolution = resolution;
        Absolute = absolute;
        _counts = new long[2 * resolution];
        Min = double.NaN;
        Max = double.NaN;
    }

    /// <summary>Bins guaranteed across [Min, Max] (the grid holds twice as many).</summary>
    public int Resolution { get; }

    /// <summary>Bins held: 2·<see cref="Resolution"/>.</summary>
    public int Capacity => _counts.Length;

    /// <summary>True when the histogram counts |x| (symmetric calibration), false for signed values.</summary>
    public bool Absolute { get; }

    /// <summary>The bin width is 2^WidthExponent.</summary>
    public int WidthExponent { get; private set; }

    /// <summary>Global index of the first bin held: bin j covers [(Offset + j)·w, (Offset + j + 1)·w).</summary>
    public long Offset { get; private set; }

    /// <summary>Finite values binned.</summary>
    public long Total { get; private set; }

    /// <summary>NaN and infinite values seen (not binned).</summary>
    public long NonFinite { get; private set; }

    /// <summary>Smallest binned value (of |x| when <see cref="Absolute"/>); NaN while empty.</summary>
    public double Min { get; private set; }

    /// <summary>Largest binned value (of |x| when <see cref="Absolute"/>); NaN while empty.</summary>
    public double Max { get; private set; }

    public bool IsEmpty => Total == 0;
    public double Width => Math.ScaleB(1.0, WidthExponent);
    public ReadOnlySpan<long> Counts => _counts;

    /// <summary>Lower edge of global bin <paramref name="globalIndex"/> (exact: indexes stay below 2^25).</summary>
    public double Edge(long globalIndex) => Math.ScaleB(globalIndex, WidthExponent);

    /// <summary>Lower edge of held bin <paramref name="bin"/>.</summary>
    public double LowerEdge(int bin) => Edge(Offset + bin);

    public void Add(ReadOnlySpan<float> values)
    {
        if (values.IsEmpty) return;
        bool allFinite = FloatScan.Scan(values, Absolute, out float lo, out float hi, out _);
        Add(values, allFinite, lo, hi);
    }

    /// <summary>
    /// <see cref="Add(ReadOnlySpan{float})"/> with the batch's scan already done (by <see cref="FloatScan.Scan"/> with
    /// this histogram's <see cref="Absolute"/>): a signed histogram reuses the min/max scan of the same batch.
    /// </summary>
    internal void Add(ReadOnlySpan<float> values, bool allFinite, float lo, float hi)
    {
        if (values.IsEmpty) return;
        long finite = values.Length;
        if (!allFinite)
        {
            lo = float.PositiveInfinity;
            hi = float.NegativeInfinity;
            finite = 0;
            foreach (float raw in values)
            {
                if (!float.IsFinite(raw)) continue;
                float v = Absolute ? Math.Abs(raw) : raw;
                if (v < lo) lo = v;
                if (v > hi) hi = v;
                finite++;
            }
            NonFinite += values.Length - finite;
            if (finite == 0) return;
        }
        Grow(lo, hi);
        double inverse = Math.ScaleB(1.0, -WidthExponent);
        // x·2^−e is exact in double for float x, so the bin is exactly ⌊x/w⌋; Grow made every bin index valid.
        ref long counts = ref MemoryMarshal.GetArrayDataReference(_counts);
        double offset = Offset;
        if (allFinite)
        {
            int done = Vector256.IsHardwareAccelerated && WidthExponent is >= -127 and <= 149
                ? BinVectorized(values, ref counts, (float)inverse, Offset, Absolute)
                : 0;
            var rest = values[done..];
            if (Absolute) foreach (float raw in rest) Unsafe.Add(ref counts, (nint)(Math.Floor(Math.Abs(raw) * inverse) - offset))++;
            else foreach (float raw in rest) Unsafe.Add(ref counts, (nint)(Math.Floor(raw * inverse) - offset))++;
        }
        else
        {
            foreach (float raw in values)
                if (float.IsFinite(raw)) Unsafe.Add(ref counts, (nint)(Math.Floor((Absolute ? Math.Abs(raw) : raw) * inverse) - offset))++;
        }
        Total += finite;
    }

    /// <summary>
    /// Bins whole groups of 8 finite values (returns how many): the bin index ⌊x·2^−e⌋ − offset computed 8 at a time in
    /// float, which is exact here: 2^−e is a float (the caller checks e), |x|·2^−e stays below 2^24 (the grid is never
    /// finer than float spacing at the largest magnitude), and the only rounding, an underflow of a tiny negative x
    /// to −0, is corrected to bin −1. Grow made every index valid, so there is no range check. Indexes are computed a
    /// block at a time into a stack buffer and then counted: cheaper than extracting them lane by lane.
    /// </summary>
    private static int BinVectorized(ReadOnlySpan<float> values, ref long counts, float inverse, long offset, bool absolute)
    {
        ref float source = ref MemoryMarshal.GetReference(values);
        Span<int> block = stackalloc int[BlockLength];
        ref int k = ref MemoryMarshal.GetReference(block);
        int i = 0;
        while (i <= values.Length - 8)
        {
            int n = Math.Min(BlockLength, (values.Length - i) & ~7);
            for (int j = 0; j < n; j += 8)
                BinIndexes(Vector256.LoadUnsafe(ref source, (nuint)(i + j)), inverse, offset, absolute).StoreUnsafe(ref k, (nuint)j);
            for (int j = 0; j < n; j++) Unsafe.Add(ref counts, Unsafe.Add(ref k, j))++;
            i += n;
        }
        return i;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> BinIndexes(Vector256<float> v, float inverse, long offset, bool absolute)
    {
        if (absolute) v = Vector256.Abs(v);
        var f = Vector256.Floor(v * Vector256.Create(inverse));
        f -= Vector256.LessThan(v, Vector256<float>.Zero) & Vector256.Equals(f, Vector256<float>.Zero) & Vector256.Create(1f);
        return Vector256.ConvertToInt32(f - Vector256.Create((float)offset));
    }

    /// <summary>Adds the counts of <paramref name="other"/> (same resolution and kind): the result equals one
    /// histogram over both sets of values, exactly.</summary>
    public void Merge(Histogram other)
    {
        if (other.Resolution != Resolution || other.Absolute != Absolute)
            throw new ArgumentException($"Cannot merge a {other.Describe()} histogram into a {Describe()} one.", nameof(other));
        NonFinite += other.NonFinite;
        if (other.IsEmpty) return;
        if (IsEmpty)
        {
            _counts = (long[])other._counts.Clone();
            WidthExponent = other.WidthExponent;
            Offset = other.Offset;
            Min = other.Min;
            Max = other.Max;
            Total = other.Total;
            return;
        }
        double lo = Math.Min(Min, other.Min), hi = Math.Max(Max, other.Max);
        int e = Math.Max(Math.Max(WidthExponent, other.WidthExponent), RequiredExponent(lo, hi));
        long offset = FloorIndex(lo, e);
        var merged = new long[Capacity];
        Accumulate(_counts, Offset, WidthExponent, merged, offset, e);
        Accumulate(other._counts, other.Offset, other.WidthExponent, merged, offset, e);
        _counts = merged;
        WidthExponent = e;
        Offset = offset;
        Min = lo;
        Max = hi;
        Total += other.Total;
    }

    public Histogram Clone()
    {
        var h = new Histogram(Resolution, Absolute);
        h.Merge(this);
        return h;
    }

    /// <summary>
    /// The value below which a fraction <paramref name="q"/> of the binned values lie, interpolated linearly inside
    /// its bin (so within one bin width of the exact order statistic) and clamped to [Min, Max].
    /// </summary>
    public double Quantile(double q)
    {
        if (IsEmpty) return double.NaN;
        if (q <= 0) return Min;
        if (q >= 1) return Max;
        double target = q * Total, cumulative = 0;
        for (int j = 0; j < _counts.Length; j++)
        {
            long c = _counts[j];
            if (c == 0) continue;
            if (cumulative + c >= target)
            {
                double fraction = (target - cumulative) / c;
                double v = Math.ScaleB(Offset + j + fraction, WidthExponent);
                return Math.Clamp(v, Min, Max);
            }
            cumulative += c;
        }
        return Max;
    }

    /// <summary>Values binned below <paramref name="x"/>, interpolating linearly inside its bin.</summary>
    public double CountBelow(double x)
    {
        if (IsEmpty || x <= Min) return 0;
        if (x >= Max) return Total;
        double position = Math.ScaleB(x, -WidthExponent) - Offset;
        int bin = (int)Math.Clamp(Math.Floor(position), 0, Capacity - 1);
        double below = 0;
        for (int j = 0; j < bin; j++) below += _counts[j];
        return below + _counts[bin] * Math.Clamp(position - bin, 0, 1);
    }

    /// <summary>Fraction of the binned values outside [lo, hi] (of |x| above hi for an |x| histogram): what a range clips.</summary>
    public double FractionOutside(double lo, double hi)
    {
        if (IsEmpty) return 0;
        if (Absolute) return 1 - CountBelow(Math.Max(Math.Abs(lo), Math.Abs(hi))) / Total;
        return (CountBelow(lo) + Total - CountBelow(hi)) / Total;
    }

    /// <summary>
    /// The histogram of |x| for a signed histogram (bin g ≥ 0 stays, bin g &lt; 0 goes to −g−1). Values lying exactly
    /// on a negative edge land one bin low, so quantiles of the result are within one bin of the exact ones.
    /// </summary>
    public Histogram ToAbsolute()
    {
        if (Absolute) return Clone();
        var h = new Histogram(Resolution, absolute: true) { NonFinite = NonFinite };
        if (IsEmpty) return h;
        long first = long.MaxValue;
        for (int j = 0; j < _counts.Length; j++)
            if (_counts[j] != 0) first = Math.Min(first, Fold(Offset + j));
        h.WidthExponent = WidthExponent;
        h.Offset = first;
        for (int j = 0; j < _counts.Length; j++)
            if (_counts[j] != 0) h._counts[Fold(Offset + j) - first] += _counts[j];
        h.Min = Min <= 0 && Max >= 0 ? Math.Max(0, Math.ScaleB(first, WidthExponent)) : Math.Min(Math.Abs(Min), Math.Abs(Max));
        h.Max = Math.Max(Math.Abs(Min), Math.Abs(Max));
        h.Total = Total;
        return h;

        static long Fold(long g) => g >= 0 ? g : -g - 1;
    }

    /// <summary>Restores a saved histogram; validates that the counts fit the grid.</summary>
    internal static Histogram Restore(int resolution, bool absolute, int widthExponent, long offset, double min, double max,
        long nonFinite, long firstBin, IReadOnlyList<long> counts)
    {
        var h = new Histogram(resolution, absolute) { NonFinite = nonFinite };
        long total = 0;
        foreach (long c in counts)
        {
            if (c < 0) throw new FormatException("a histogram count is negative");
            total += c;
        }
        if (total == 0) return h;
        if (widthExponent < MinExponent || widthExponent > 1100) throw new FormatException($"width exponent {widthExponent} is out of range");
        if (firstBin < offset || firstBin - offset + counts.Count > h.Capacity)
            throw new FormatException($"bins {firstBin}..{firstBin + counts.Count - 1} do not fit the grid at offset {offset} with {h.Capacity} bins");
        if (!(min <= max)) throw new FormatException("min is greater than max");
        h.WidthExponent = widthExponent;
        h.Offset = offset;
        for (int i = 0; i < counts.Count; i++) h._counts[firstBin - offset + i] = counts[i];
        h.Min = min;
        h.Max = max;
        h.Total = total;
        return h;
    }

    private void Grow(double lo, double hi)
    {
        if (IsEmpty)
        {
            WidthExponent = RequiredExponent(lo, hi);
            Offset = FloorIndex(lo, WidthExponent);
            Min = lo;
            Max = hi;
            return;
        }
        if (lo >= Min && hi <= Max) return;
        double newLo = Math.Min(Min, lo), newHi = Math.Max(Max, hi);
        int e = Math.Max(WidthExponent, RequiredExponent(newLo, newHi));
        long offset = FloorIndex(newLo, e);
        if (e != WidthExponent || offset != Offset)
        {
            var grown = new long[Capacity];
            Accumulate(_counts, Offset, WidthExponent, grown, offset, e);
            _counts = grown;
            WidthExponent = e;
            Offset = offset;
        }
        Min = newLo;
        Max = newHi;
    }

    /// <summary>The finest width exponent whose grid holds [lo, hi] in <see cref="Capacity"/> bins.</summary>
    private int RequiredExponent(double lo, double hi)
    {
        double maxAbs = Math.Max(Math.Abs(lo), Math.Abs(hi));
        int e = maxAbs == 0 ? MinExponent : Math.Max(MinExponent, Math.ILogB(maxAbs) - 23);
        if (hi > lo) e = Math.Max(e, Math.ILogB((hi - lo) / Capacity));
        while (FloorIndex(hi, e) - FloorIndex(lo, e) + 1 > Capacity) e++;
        return e;
    }

    private static long FloorIndex(double x, int exponent) => (long)Math.Floor(Math.ScaleB(x, -exponent));

    /// <summary>Adds bins of a grid (offset, exponent) into a coarser or equal grid: bin g goes to ⌊g / 2^k⌋.</summary>
    private static void Accumulate(long[] source, long sourceOffset, int sourceExponent, long[] target, long targetOffset, int targetExponent)
    {
        int k = targetExponent - sourceExponent;
        for (int j = 0; j < source.Length; j++)
        {
            long c = source[j];
            if (c == 0) continue;
            long g = sourceOffset + j;
            long coarse = k >= 62 ? (g < 0 ? -1 : 0) : g >> k; // arithmetic shift: floor division for negatives too
            target[coarse - targetOffset] += c;
        }
    }

    private string Describe() => $"{(Absolute ? "|x|" : "signed")} {Resolution}-bin";
}
