using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace OnnxQuant.Passes.Numerics;

/// <summary>
/// y[r, n] = Σ_j x[r, j]·b[j, n] in double, summed in the order j = 0, 1, …, k−1, for float values widened to double
/// (x rows × k row-major; b k × columns row-major, i.e. the columns side by side). Bit-identical to the scalar loop
/// <c>sum += (double)x[j] * b[j]</c>: a product of two floats is exact in double, so a fused multiply-add rounds
/// exactly like a multiply then an add, and every entry receives its additions in the same order.
/// </summary>
/// <remarks>
/// Blocks of 4 rows × 8 columns stay in 8 vector registers; each step broadcasts one x value per row and loads
/// 8 consecutive b values (the outer-product form), so the additions per entry stay in j order. Entries outside full
/// blocks take the scalar loop. Values must be finite (as calibration data and weights are).
/// </remarks>
internal static class ExactFloatProducts
{
    /// <summary>y[r·columns + n] for rows r in [rowFrom, rowTo).</summary>
    public static void Multiply(ReadOnlySpan<double> x, ReadOnlySpan<double> b, Span<double> y, int rowFrom, int rowTo, int columns, int k)
    {
        int r = rowFrom;
        if (Vector256.IsHardwareAccelerated)
            for (; r + 4 <= rowTo; r += 4)
            {
                int n = 0;
                for (; n + 8 <= columns; n += 8) Block4x8(x, b, y, r, n, columns, k);
                for (int i = r; i < r + 4; i++)
                    for (int m = n; m < columns; m++) y[i * columns + m] = Entry(x, b, i, m, columns, k);
            }
        for (; r < rowTo; r++)
            for (int n = 0; n < columns; n++) y[r * columns + n] = Entry(x, b, r, n, columns, k);
    }

    private static double Entry(ReadOnlySpan<double> x, ReadOnlySpan<double> b, int r, int n, int columns, int k)
    {
        double sum = 0;
        for (int j = 0; j < k; j++) sum += x[r * k + j] * b[j * columns + n];
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Block4x8(ReadOnlySpan<double> x, ReadOnlySpan<double> b, Span<double> y, int r, int n, int columns, int k)
    {
        ref double x0 = ref Unsafe.Add(ref MemoryMarshal.GetReference(x), (nint)r * k);
        ref double x1 = ref Unsafe.Add(ref x0, k);
        ref double x2 = ref Unsafe.Add(ref x1, k);
        ref double x3 = ref Unsafe.Add(ref x2, k);
        ref double bs = ref Unsafe.Add(ref MemoryMarshal.GetReference(b), n);
        Vector256<double> y00 = default, y01 = default, y10 = default, y11 = default, y20 = default, y21 = default, y30 = default, y31 = default;
        for (int j = 0; j < k; j++)
        {
            ref double row = ref Unsafe.Add(ref bs, (nint)j * columns);
            var b0 = Vector256.LoadUnsafe(ref row);
            var b1 = Vector256.LoadUnsafe(ref row, 4);
            var a = Vector256.Create(Unsafe.Add(ref x0, j));
            y00 = Vector256.MultiplyAddEstimate(a, b0, y00); y01 = Vector256.MultiplyAddEstimate(a, b1, y01);
            a = Vector256.Create(Unsafe.Add(ref x1, j));
            y10 = Vector256.MultiplyAddEstimate(a, b0, y10); y11 = Vector256.MultiplyAddEstimate(a, b1, y11);
            a = Vector256.Create(Unsafe.Add(ref x2, j));
            y20 = Vector256.MultiplyAddEstimate(a, b0, y20); y21 = Vector256.MultiplyAddEstimate(a, b1, y21);
            a = Vector256.Create(Unsafe.Add(ref x3, j));
            y30 = Vector256.MultiplyAddEstimate(a, b0, y30); y31 = Vector256.MultiplyAddEstimate(a, b1, y31);
        }
        ref double out0 = ref y[r * columns + n];
        y00.StoreUnsafe(ref out0); y01.StoreUnsafe(ref out0, 4);
        ref double out1 = ref Unsafe.Add(ref out0, columns);
        y10.StoreUnsafe(ref out1); y11.StoreUnsafe(ref out1, 4);
        ref double out2 = ref Unsafe.Add(ref out1, columns);
        y20.StoreUnsafe(ref out2); y21.StoreUnsafe(ref out2, 4);
        ref double out3 = ref Unsafe.Add(ref out2, columns);
        y30.StoreUnsafe(ref out3); y31.StoreUnsafe(ref out3, 4);
    }
}
