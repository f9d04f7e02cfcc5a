using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace OnnxQuant.Runtime.Calibration.Statistics;

/// <summary>
/// C += XᵀX on the packed upper triangle of a symmetric K×K matrix (row i holds columns i..K−1) for a tile of T rows X
/// (T×K, row-major, float values widened to double): a blocked symmetric rank-T update. Each entry C_ij is loaded once
/// per tile into a register, receives the products x_ri·x_rj in row order r = 0…T−1 and is stored once; the rank-1
/// form (one row at a time) streamed the whole triangle, 127 MB at K = 5632, per row, and was memory-bound.
/// </summary>
/// <remarks>
/// Bit-identical to adding the rows one at a time: every entry receives the same additions in the same order, and a
/// product of two floats is exact in double, so a fused multiply-add rounds exactly like a multiply then an add. That
/// needs finite rows: the rank-1 form skips x_i = 0 (so 0·∞ never becomes NaN), and a tile with a non-finite value is
/// added that way instead (<see cref="HasOnlyFiniteValues"/>). Columns are swept in panels of <see cref="PanelColumns"/>
/// so the panel of X stays in cache while every block of 4 rows of C up to it reads it; 4 rows × 8 columns of C are
/// kept in 8 vector registers while the tile's rows stream past.
/// </remarks>
internal static class PackedRankKUpdate
{
    /// <summary>Rows of X per update: C is read and written once per this many rows.</summary>
    public const int TileRows = 128;

    /// <summary>Columns of X per panel (128 rows × 256 doubles = 256 KB, within a core's L2 cache).</summary>
    private const int PanelColumns = 256;

    /// <summary>Rows of C per register block.</summary>
    private const int BlockRows = 4;

    /// <summary>Adds x (rows × k, row-major) to the packed upper triangle <paramref name="upper"/> of order k.</summary>
    public static void Add(Span<double> upper, int k, ReadOnlySpan<double> x, int rows)
    {
        for (int p0 = 0; p0 < k; p0 += PanelColumns)
        {
            int p1 = Math.Min(k, p0 + PanelColumns);
            for (int i0 = 0; i0 < p1; i0 += BlockRows)
            {
                int iEnd = Math.Min(k, i0 + BlockRows);
                int vectorFrom = Math.Max(p0, iEnd);
                // The triangle on the diagonal block (and a last block of fewer than 4 rows): entry by entry.
                for (int i = i0; i < iEnd; i++)
                    for (int j = Math.Max(p0, i); j < Math.Min(p1, vectorFrom); j++)
                        AddEntry(upper, k, x, rows, i, j);
                if (iEnd - i0 < BlockRows || vectorFrom >= p1) continue;
                int j0 = vectorFrom;
                if (Vector256.IsHardwareAccelerated)
                {
                    for (; j0 + 8 <= p1; j0 += 8) AddBlock4x8(upper, k, x, rows, i0, j0);
                    for (; j0 + 4 <= p1; j0 += 4) AddBlock4x4(upper, k, x, rows, i0, j0);
                }
                for (int i = i0; i < iEnd; i++)
                    for (int j = j0; j < p1; j++)
                        AddEntry(upper, k, x, rows, i, j);
            }
        }
    }

    /// <summary>True when no value is NaN or infinite (then <see cref="Add"/> equals the rank-1 form bit for bit).</summary>
    public static bool HasOnlyFiniteValues(ReadOnlySpan<double> x)
    {
        foreach (double v in x)
            if (!double.IsFinite(v)) return false;
        return true;
    }

    private static long RowStart(int k, int i) => (long)i * k - (long)i * (i - 1) / 2;

    private static void AddEntry(Span<double> upper, int k, ReadOnlySpan<double> x, int rows, int i, int j)
    {
        ref double c = ref upper[(int)(RowStart(k, i) + j - i)];
        double sum = c;
        for (int r = 0; r < rows; r++) sum += x[r * k + i] * x[r * k + j];
        c = sum;
    }

    // C[i0..i0+3, j0..j0+7] in 8 registers; j0 ≥ i0 + 4, so every entry lies above the diagonal.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AddBlock4x8(Span<double> upper, int k, ReadOnlySpan<double> x, int rows, int i0, int j0)
    {
        ref double c = ref MemoryMarshal.GetReference(upper);
        nuint o0 = (nuint)(RowStart(k, i0) + j0 - i0), o1 = (nuint)(RowStart(k, i0 + 1) + j0 - i0 - 1);
        nuint o2 = (nuint)(RowStart(k, i0 + 2) + j0 - i0 - 2), o3 = (nuint)(RowStart(k, i0 + 3) + j0 - i0 - 3);
        var c00 = Vector256.LoadUnsafe(ref c, o0); var c01 = Vector256.LoadUnsafe(ref c, o0 + 4);
        var c10 = Vector256.LoadUnsafe(ref c, o1); var c11 = Vector256.LoadUnsafe(ref c, o1 + 4);
        var c20 = Vector256.LoadUnsafe(ref c, o2); var c21 = Vector256.LoadUnsafe(ref c, o2 + 4);
        var c30 = Vector256.LoadUnsafe(ref c, o3); var c31 = Vector256.LoadUnsafe(ref c, o3 + 4);
        ref double xs = ref MemoryMarshal.GetReference(x);
        for (int r = 0; r < rows; r++)
        {
            ref double row = ref Unsafe.Add(ref xs, (nint)r * k);
            var b0 = Vector256.LoadUnsafe(ref row, (nuint)j0);
            var b1 = Vector256.LoadUnsafe(ref row, (nuint)j0 + 4);
            var a = Vector256.Create(Unsafe.Add(ref row, i0));
            c00 = Vector256.MultiplyAddEstimate(a, b0, c00); c01 = Vector256.MultiplyAddEstimate(a, b1, c01);
            a = Vector256.Create(Unsafe.Add(ref row, i0 + 1));
            c10 = Vector256.MultiplyAddEstimate(a, b0, c10); c11 = Vector256.MultiplyAddEstimate(a, b1, c11);
            a = Vector256.Create(Unsafe.Add(ref row, i0 + 2));
            c20 = Vector256.MultiplyAddEstimate(a, b0, c20); c21 = Vector256.MultiplyAddEstimate(a, b1, c21);
            a = Vector256.Create(Unsafe.Add(ref row, i0 + 3));
            c30 = Vector256.MultiplyAddEstimate(a, b0, c30); c31 = Vector256.MultiplyAddEstimate(a, b1, c31);
        }
        c00.StoreUnsafe(ref c, o0); c01.StoreUnsafe(ref c, o0 + 4);
        c10.StoreUnsafe(ref c, o1); c11.StoreUnsafe(ref c, o1 + 4);
        c20.StoreUnsafe(ref c, o2); c21.StoreUnsafe(ref c, o2 + 4);
        c30.StoreUnsafe(ref c, o3); c31.StoreUnsafe(ref c, o3 + 4);
    }

    private static void AddBlock4x4(Span<double> upper, int k, ReadOnlySpan<double> x, int rows, int i0, int j0)
    {
        ref double c = ref MemoryMarshal.GetReference(upper);
        nuint o0 = (nuint)(RowStart(k, i0) + j0 - i0), o1 = (nuint)(RowStart(k, i0 + 1) + j0 - i0 - 1);
        nuint o2 = (nuint)(RowStart(k, i0 + 2) + j0 - i0 - 2), o3 = (nuint)(RowStart(k, i0 + 3) + j0 - i0 - 3);
        var c0 = Vector256.LoadUnsafe(ref c, o0);
        var c1 = Vector256.LoadUnsafe(ref c, o1);
        var c2 = Vector256.LoadUnsafe(ref c, o2);
        var c3 = Vector256.LoadUnsafe(ref c, o3);
        ref double xs = ref MemoryMarshal.GetReference(x);
        for (int r = 0; r < rows; r++)
        {
            ref double row = ref Unsafe.Add(ref xs, (nint)r * k);
            var b = Vector256.LoadUnsafe(ref row, (nuint)j0);
            c0 = Vector256.MultiplyAddEstimate(Vector256.Create(Unsafe.Add(ref row, i0)), b, c0);
            c1 = Vector256.MultiplyAddEstimate(Vector256.Create(Unsafe.Add(ref row, i0 + 1)), b, c1);
            c2 = Vector256.MultiplyAddEstimate(Vector256.Create(Unsafe.Add(ref row, i0 + 2)), b, c2);
            c3 = Vector256.MultiplyAddEstimate(Vector256.Create(Unsafe.Add(ref row, i0 + 3)), b, c3);
        }
        c0.StoreUnsafe(ref c, o0);
        c1.StoreUnsafe(ref c, o1);
        c2.StoreUnsafe(ref c, o2);
        c3.StoreUnsafe(ref c, o3);
    }
}
