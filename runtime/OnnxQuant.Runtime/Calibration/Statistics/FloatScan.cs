using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace OnnxQuant.Runtime.Calibration.Statistics;

/// <summary>
/// One vectorized pass over a batch: minimum, maximum and sum of magnitudes (of |x| when asked), and whether every
/// value is finite. Hardware min/max (not IEEE's NaN-propagating ones, which cost several times more) are safe here
/// because NaN and ±∞ are detected on the side (x − x is 0 exactly for finite x) and such batches go the slow way.
/// </summary>
internal static class FloatScan
{
    /// <summary>Floats are summed per lane in blocks this long before adding to the double total.</summary>
    private const int SumBlock = 512;

    /// <summary>False when some value is NaN or ±∞ (the outputs are then meaningless).</summary>
    public static bool Scan(ReadOnlySpan<float> values, bool absolute, out float min, out float max, out double sumAbs)
    {
        bool finite = Scan(values, out min, out max, out float absMin, out float absMax, out sumAbs);
        if (absolute)
        {
            min = absMin;
            max = absMax;
        }
        return finite;
    }

    /// <summary>
    /// The signed range and the range of magnitudes in the same pass: a tensor observed for min/max and an |x|
    /// histogram reads its batch once (memory traffic, not arithmetic, is what the scan costs).
    /// </summary>
    public static bool Scan(ReadOnlySpan<float> values, out float min, out float max, out float absMin, out float absMax, out double sumAbs)
    {
        min = absMin = float.PositiveInfinity;
        max = absMax = float.NegativeInfinity;
        sumAbs = 0;
        int i = 0;
        bool finite = true;
        if (Vector256.IsHardwareAccelerated && values.Length >= Vector256<float>.Count)
        {
            ref float source = ref MemoryMarshal.GetReference(values);
            var lo = Vector256.Create(float.PositiveInfinity);
            var hi = Vector256.Create(float.NegativeInfinity);
            var absLo = lo;
            var absHi = hi;
            var bad = Vector256<float>.Zero;
            var sum = Vector256<float>.Zero;
            int block = 0;
            for (; i <= values.Length - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                var v = Vector256.LoadUnsafe(ref source, (nuint)i);
                var magnitude = Vector256.Abs(v);
                lo = Vector256.MinNative(lo, v);
                hi = Vector256.MaxNative(hi, v);
                absLo = Vector256.MinNative(absLo, magnitude);
                absHi = Vector256.MaxNative(absHi, magnitude);
                bad |= ~Vector256.Equals(v - v, Vector256<float>.Zero);
                sum += magnitude;
                if (++block == SumBlock)
                {
                    sumAbs += Vector256.Sum(sum);
                    sum = Vector256<float>.Zero;
                    block = 0;
                }
            }
            sumAbs += Vector256.Sum(sum);
            finite = bad == Vector256<float>.Zero;
            for (int k = 0; k < Vector256<float>.Count; k++)
            {
                min = Math.Min(min, lo.GetElement(k));
                max = Math.Max(max, hi.GetElement(k));
                absMin = Math.Min(absMin, absLo.GetElement(k));
                absMax = Math.Max(absMax, absHi.GetElement(k));
            }
        }
        for (; i < values.Length; i++)
        {
            float v = values[i], magnitude = Math.Abs(v);
            if (!float.IsFinite(v)) finite = false;
            min = Math.Min(min, v);
            max = Math.Max(max, v);
            absMin = Math.Min(absMin, magnitude);
            absMax = Math.Max(absMax, magnitude);
            sumAbs += magnitude;
        }
        return finite;
    }
}
