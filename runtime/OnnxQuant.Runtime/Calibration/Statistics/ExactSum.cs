using System.Globalization;
using System.Numerics;

namespace OnnxQuant.Runtime.Calibration.Statistics;

/// <summary>
/// The exact sum of finite doubles, whatever the order they are added in; <see cref="Value"/> is that sum rounded
/// once to the nearest double (ties to even).
/// </summary>
/// <remarks>
/// <para>Why: calibration statistics hold sums over batches (Σ|x| for mean |x|, Σx per channel for bias correction).
/// Summed in double, the result depends on the order of the additions, so shards merged after
/// <c>calibrate --shard</c> would differ from one run in the last bits and their files would not be byte-identical.
/// Kept exactly, a sum is a property of the set of batch sums alone. Each batch's own sum is still formed in double by
/// the scan that reads the batch: shards split the data at batch boundaries, so those are the same in every run.</para>
/// <para>How: Shewchuk's non-overlapping expansion ("Adaptive precision floating-point arithmetic", 1997; the
/// algorithm behind Python's <c>math.fsum</c>): a short list of doubles whose exact sum is the running total, kept
/// exact by error-free two-sums. Adding costs a few flops per partial (usually one to three partials), so the hot
/// path stays cheap; the exact value is formed as a big integer only when it is read or written.</para>
/// <para>Text form (<see cref="ToExactString"/>): <c>M*2^E</c> with M an odd integer (or <c>0</c>), canonical, so
/// equal sums write equal text.</para>
/// </remarks>
public sealed class ExactSum
{
    // Non-overlapping partials in increasing magnitude; their exact sum is the total.
    private readonly List<double> _partials = [];
    private double? _rounded;

    public ExactSum() { }

    /// <summary>A sum that starts at <paramref name="value"/> (finite).</summary>
    public static ExactSum Of(double value)
    {
        var s = new ExactSum();
        s.Add(value);
        return s;
    }

    /// <summary>The exact sum rounded to the nearest double.</summary>
    public double Value => _rounded ??= ToDouble(Canonical());

    /// <summary>True when <see cref="Value"/> is the sum itself (no rounding happened).</summary>
    public bool IsExactlyRepresentable
    {
        get
        {
            var (m, e) = Canonical();
            return Decompose(Value) is var (dm, de) && Normalize(dm, de) == (m, e);
        }
    }

    /// <summary>Adds a finite value exactly.</summary>
    public void Add(double x)
    {
        if (!double.IsFinite(x)) throw new ArgumentException($"Only finite values can be summed exactly (got {x}).", nameof(x));
        if (x == 0) return;
        _rounded = null;
        int kept = 0;
        for (int j = 0; j < _partials.Count; j++)
        {
            double y = _partials[j];
            if (Math.Abs(x) < Math.Abs(y)) (x, y) = (y, x);
            double hi = x + y;
            if (!double.IsFinite(hi)) throw new OverflowException("An exact sum left the range of double.");
            double lo = y - (hi - x);
            if (lo != 0) _partials[kept++] = lo;
            x = hi;
        }
        _partials.RemoveRange(kept, _partials.Count - kept);
        if (x != 0) _partials.Add(x);
    }

    /// <summary>Adds another exact sum exactly (merging shards).</summary>
    public void Add(ExactSum other)
    {
        // Copied first: other may be this.
        foreach (double p in other._partials.ToArray()) Add(p);
    }

    public ExactSum Clone()
    {
        var c = new ExactSum();
        c._partials.AddRange(_partials);
        c._rounded = _rounded;
        return c;
    }

    /// <summary>The canonical text <c>M*2^E</c> (M odd) or <c>0</c>.</summary>
    public string ToExactString()
    {
        var (m, e) = Canonical();
        return m.IsZero ? "0" : m.ToString(CultureInfo.InvariantCulture) + "*2^" + e.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>Reads <see cref="ToExactString"/>'s form.</summary>
    public static ExactSum Parse(string text)
    {
        var s = new ExactSum();
        if (text == "0") return s;
        int star = text.IndexOf("*2^", StringComparison.Ordinal);
        if (star <= 0
            || !BigInteger.TryParse(text.AsSpan(0, star), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var m)
            || !int.TryParse(text.AsSpan(star + 3), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int e)
            || m.IsZero || e < -1074 || e > 1023 || m.GetBitLength() + e > 1024)
            throw new FormatException($"\"{text}\" is not an exact sum (M*2^E with integers M, E, inside the range of double)");
        // Split the integer into doubles of at most 52 bits each: each one is exact, so their sum is the value.
        var sign = m.Sign;
        var rest = BigInteger.Abs(m);
        int shift = 0;
        var mask = (BigInteger.One << 52) - 1;
        while (!rest.IsZero)
        {
            var chunk = rest & mask;
            if (!chunk.IsZero) s.Add(sign * Math.ScaleB((double)(ulong)chunk, e + shift));
            rest >>= 52;
            shift += 52;
        }
        return s;
    }

    public override string ToString() => ToExactString();

    /// <summary>The exact value as M·2^E, M odd (or 0 with E = 0).</summary>
    private (BigInteger Mantissa, int Exponent) Canonical()
    {
        if (_partials.Count == 0) return (BigInteger.Zero, 0);
        var parts = _partials.Select(Decompose).ToList();
        int min = parts.Min(p => p.Exponent);
        var total = BigInteger.Zero;
        foreach (var (m, e) in parts) total += m << (e - min);
        return Normalize(total, min);
    }

    private static (BigInteger, int) Normalize(BigInteger m, int e)
    {
        if (m.IsZero) return (BigInteger.Zero, 0);
        int zeros = (int)BigInteger.TrailingZeroCount(m);
        return (m >> zeros, e + zeros);
    }

    /// <summary>A finite double as an integer times a power of two (exact).</summary>
    private static (BigInteger Mantissa, int Exponent) Decompose(double d)
    {
        long bits = BitConverter.DoubleToInt64Bits(d);
        int field = (int)((bits >> 52) & 0x7FF);
        long fraction = bits & 0xF_FFFF_FFFF_FFFFL;
        long m = field == 0 ? fraction : fraction | (1L << 52);
        int e = field == 0 ? -1074 : field - 1075;
        return (d < 0 ? -(BigInteger)m : m, e);
    }

    /// <summary>M·2^E rounded to the nearest double, ties to even (subnormal results included).</summary>
    private static double ToDouble((BigInteger Mantissa, int Exponent) value)
    {
        var (m, e) = value;
        if (m.IsZero) return 0;
        int sign = m.Sign;
        var magnitude = BigInteger.Abs(m);
        long bits = (long)magnitude.GetBitLength();
        // Keep 53 significant bits, or fewer where the result is subnormal (its last bit is 2^-1074).
        long shift = Math.Max(bits - 53, -1074L - e);
        if (shift <= 0) return sign * Math.ScaleB((double)(ulong)magnitude, e);
        var q = magnitude >> (int)shift;
        var remainder = magnitude - (q << (int)shift);
        var half = BigInteger.One << (int)(shift - 1);
        if (remainder > half || (remainder == half && !q.IsEven)) q += 1;
        // q ≤ 2^53 converts exactly; ScaleB is exact unless the result overflows (then ±∞, the correct rounding).
        return sign * Math.ScaleB((double)(ulong)q, (int)(e + shift));
    }
}
