using System.Numerics;

namespace OnnxQuant.Passes.Numerics;

/// <summary>
/// The fast Walsh–Hadamard transform: y = H_n·x for Sylvester's H_n (entry (i, j) = (−1)^popcount(i AND j), which is
/// symmetric) on each row of a row-major [rows, n] buffer, in place, n a power of two, in n·log₂n additions per row
/// instead of n² multiply-adds. Normalized divides by √n (H_n/√n is orthogonal and its own inverse).
/// For orders K·2^m use <see cref="HadamardTransform"/>.
/// </summary>
public static class WalshHadamardTransform
{
    public static void Apply(Span<double> rows, int length, bool normalized) => ApplyRows(rows, length, normalized);

    public static void Apply(Span<float> rows, int length, bool normalized) => ApplyRows(rows, length, normalized);

    private static void ApplyRows<T>(Span<T> rows, int length, bool normalized) where T : struct, IFloatingPointIeee754<T>
    {
        if (length <= 0 || !BitOperations.IsPow2(length))
            throw new ArgumentException($"the fast Walsh–Hadamard transform needs a power-of-two length, got {length}");
        if (rows.Length % length != 0)
            throw new ArgumentException($"a buffer of {rows.Length} values is not a whole number of rows of {length}");
        for (int start = 0; start < rows.Length; start += length)
        {
            var row = rows.Slice(start, length);
            Butterflies(row);
            if (normalized) Scale(row, T.CreateChecked(1 / Math.Sqrt(length)));
        }
    }

    /// <summary>In-place unnormalized transform of one power-of-two-long row.</summary>
    internal static void Butterflies<T>(Span<T> row) where T : struct, IFloatingPointIeee754<T>
    {
        int n = row.Length;
        for (int half = 1; half < n; half *= 2)
            for (int block = 0; block < n; block += 2 * half)
            {
                var top = row.Slice(block, half);
                var bottom = row.Slice(block + half, half);
                int j = 0;
                if (Vector.IsHardwareAccelerated && half >= Vector<T>.Count)
                    for (; j <= half - Vector<T>.Count; j += Vector<T>.Count)
                    {
                        var a = new Vector<T>(top.Slice(j));
                        var b = new Vector<T>(bottom.Slice(j));
                        (a + b).CopyTo(top.Slice(j));
                        (a - b).CopyTo(bottom.Slice(j));
                    }
                for (; j < half; j++)
                {
                    T a = top[j], b = bottom[j];
                    top[j] = a + b;
                    bottom[j] = a - b;
                }
            }
    }

    internal static void Scale<T>(Span<T> values, T factor) where T : struct, IFloatingPointIeee754<T>
    {
        for (int k = 0; k < values.Length; k++) values[k] *= factor;
    }
}
