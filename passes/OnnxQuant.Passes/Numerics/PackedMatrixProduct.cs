using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace OnnxQuant.Passes.Numerics;

/// <summary>
/// C += α·A·B (α = ±1) on row-major double arrays, for the O(n³) parts of <see cref="BlockedCholesky"/> and GPTQ's
/// scale refit. BLIS's loop structure (Van Zee and van de Geijn, "BLIS: A Framework for Rapidly Instantiating BLAS
/// Functionality", 2015): B is packed in slices of <see cref="DepthBlock"/> rows into panels of
/// <see cref="TileColumns"/> columns (kept in L3), A in blocks of <see cref="RowBlock"/> rows into panels of
/// <see cref="TileRows"/> rows (L2), and a 6×8 tile of C stays in twelve 256-bit registers while the two panels stream
/// past (fused multiply-adds). Row blocks of A run in parallel when asked.
/// </summary>
/// <remarks>
/// Deterministic: every entry of C is Σ_p a_ip·b_pj accumulated by fused multiply-adds in increasing p within a depth
/// slice, added to C once per slice, slices in order, whatever the thread count. The scalar path (no AVX2/FMA) does the
/// same fused operations in the same order, so it gives the same bits, only slower. Packed panels are zero-padded, so
/// edge tiles are computed in full and only their valid part is stored.
/// </remarks>
internal static class PackedMatrixProduct
{
    /// <summary>Rows of C per register tile.</summary>
    public const int TileRows = 6;

    /// <summary>Columns of C per register tile (two 256-bit vectors).</summary>
    public const int TileColumns = 8;

    /// <summary>Depth (p) per packed slice: a 256×8 B panel is 16 KB, inside the 32+ KB L1.</summary>
    private const int DepthBlock = 256;

    /// <summary>Rows of A packed at a time: 96×256 doubles, 192 KB, inside L2; also the unit of parallel work.</summary>
    private const int RowBlock = 96;

    private static readonly bool Vectorized = Fma.IsSupported && Vector256.IsHardwareAccelerated;

    /// <summary>
    /// A matrix operand read from <paramref name="Data"/>: entry (i, j) is Data[Offset + i·Stride + j], or
    /// Data[Offset + j·Stride + i] when <paramref name="Transposed"/> (the operand is the transpose of a row-major block).
    /// </summary>
    public readonly record struct Operand(double[] Data, int Offset, int Stride, bool Transposed = false)
    {
        public double this[int i, int j] => Transposed ? Data[Offset + (long)j * Stride + i] : Data[Offset + (long)i * Stride + j];
    }

    /// <summary>
    /// C[0..m, 0..n] += α·A[0..m, 0..depth]·B[0..depth, 0..n], C row-major at <paramref name="cOffset"/> with row
    /// stride <paramref name="cStride"/>. With <paramref name="lowerOnly"/> only entries with column ≤ row are written
    /// (a symmetric rank-k update of a lower triangle; tiles wholly above the diagonal are skipped).
    /// </summary>
    public static void MultiplyAdd(Operand a, Operand b, double[] c, int cOffset, int cStride, int m, int n, int depth,
        double alpha, bool lowerOnly = false, bool parallel = true)
    {
        if (alpha is not (1.0 or -1.0)) throw new ArgumentOutOfRangeException(nameof(alpha), alpha, "α must be 1 or −1.");
        if (m <= 0 || n <= 0 || depth <= 0) return;
        int columnPanels = (n + TileColumns - 1) / TileColumns;
        int rowBlocks = (m + RowBlock - 1) / RowBlock;
        var packedB = ArrayPool<double>.Shared.Rent(columnPanels * TileColumns * Math.Min(depth, DepthBlock));
        try
        {
            for (int p0 = 0; p0 < depth; p0 += DepthBlock)
            {
                int kc = Math.Min(DepthBlock, depth - p0);
                PackB(b, p0, kc, n, packedB);
                int first = p0;
                void RowBlockBody(int block)
                {
                    int i0 = block * RowBlock, mc = Math.Min(RowBlock, m - i0);
                    int rowPanels = (mc + TileRows - 1) / TileRows;
                    var packedA = ArrayPool<double>.Shared.Rent(rowPanels * TileRows * kc);
                    try
                    {
                        PackA(a, i0, mc, first, kc, packedA);
                        for (int jp = 0; jp < columnPanels; jp++)
                        {
                            int j0 = jp * TileColumns;
                            if (lowerOnly && j0 > i0 + mc - 1) break;
                            for (int ip = 0; ip < rowPanels; ip++)
                            {
                                int ti = i0 + ip * TileRows;
                                if (lowerOnly && j0 > ti + TileRows - 1) continue;
                                int rows = Math.Min(TileRows, m - ti), columns = Math.Min(TileColumns, n - j0);
                                bool straddles = lowerOnly && j0 + columns - 1 > ti;
                                Tile(packedA, ip * TileRows * kc, packedB, jp * TileColumns * kc, kc,
                                    c, cOffset + ti * cStride + j0, cStride, rows, columns, alpha, straddles ? ti - j0 : int.MaxValue);
                            }
                        }
                    }
                    finally
                    {
                        ArrayPool<double>.Shared.Return(packedA);
                    }
                }
                if (parallel && rowBlocks > 1) Parallel.For(0, rowBlocks, RowBlockBody);
                else for (int block = 0; block < rowBlocks; block++) RowBlockBody(block);
            }
        }
        finally
        {
            ArrayPool<double>.Shared.Return(packedB);
        }
    }

    // B[p0..p0+kc, 0..n] → panels of 8 columns: packed[(jp·kc + p)·8 + jj], zero beyond n.
    private static void PackB(Operand b, int p0, int kc, int n, double[] packed)
    {
        int panels = (n + TileColumns - 1) / TileColumns;
        for (int jp = 0; jp < panels; jp++)
        {
            int j0 = jp * TileColumns, columns = Math.Min(TileColumns, n - j0), basis = jp * kc * TileColumns;
            for (int jj = 0; jj < TileColumns; jj++)
            {
                if (jj >= columns)
                {
                    for (int p = 0; p < kc; p++) packed[basis + p * TileColumns + jj] = 0;
                    continue;
                }
                if (b.Transposed)
                {
                    // B[p, j] = Data[Offset + j·Stride + p]: contiguous in p.
                    var source = b.Data.AsSpan(b.Offset + (j0 + jj) * b.Stride + p0, kc);
                    for (int p = 0; p < kc; p++) packed[basis + p * TileColumns + jj] = source[p];
                }
                else
                    for (int p = 0; p < kc; p++) packed[basis + p * TileColumns + jj] = b.Data[b.Offset + (p0 + p) * b.Stride + j0 + jj];
            }
        }
    }

    // A[i0..i0+mc, p0..p0+kc] → panels of 6 rows: packed[(ip·kc + p)·6 + ii], zero beyond mc.
    private static void PackA(Operand a, int i0, int mc, int p0, int kc, double[] packed)
    {
        int panels = (mc + TileRows - 1) / TileRows;
        for (int ip = 0; ip < panels; ip++)
        {
            int first = ip * TileRows, rows = Math.Min(TileRows, mc - first), basis = ip * kc * TileRows;
            for (int ii = 0; ii < TileRows; ii++)
            {
                if (ii >= rows)
                {
                    for (int p = 0; p < kc; p++) packed[basis + p * TileRows + ii] = 0;
                    continue;
                }
                int i = i0 + first + ii;
                if (!a.Transposed)
                {
                    var source = a.Data.AsSpan(a.Offset + i * a.Stride + p0, kc);
                    for (int p = 0; p < kc; p++) packed[basis + p * TileRows + ii] = source[p];
                }
                else
                    for (int p = 0; p < kc; p++) packed[basis + p * TileRows + ii] = a.Data[a.Offset + (p0 + p) * a.Stride + i];
            }
        }
    }

    /// <summary>
    /// One 6×8 tile: the valid rows × columns of C (at cAt) += α·Σ_p a[p]·b[p]; with a finite
    /// <paramref name="diagonalShift"/> (= tile's first row − its first column), only entries with column ≤ row.
    /// </summary>
    [SkipLocalsInit]
    private static void Tile(double[] packedA, int aAt, double[] packedB, int bAt, int kc, double[] c, int cAt, int cStride,
        int rows, int columns, double alpha, int diagonalShift)
    {
        bool full = rows == TileRows && columns == TileColumns && diagonalShift == int.MaxValue;
        if (Vectorized && full)
        {
            VectorTile(packedA, aAt, packedB, bAt, kc, ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(c), cAt), cStride, alpha);
            return;
        }
        Span<double> sums = stackalloc double[TileRows * TileColumns];
        if (Vectorized)
        {
            sums.Clear();
            VectorTile(packedA, aAt, packedB, bAt, kc, ref MemoryMarshal.GetReference(sums), TileColumns, 1);
        }
        else ScalarTile(packedA, aAt, packedB, bAt, kc, sums);
        for (int r = 0; r < rows; r++)
        {
            int last = Math.Min(columns, diagonalShift == int.MaxValue ? columns : diagonalShift + r + 1);
            var target = c.AsSpan(cAt + r * cStride, Math.Max(0, last));
            var source = sums.Slice(r * TileColumns, target.Length);
            if (alpha > 0)
                for (int j = 0; j < target.Length; j++) target[j] += source[j];
            else
                for (int j = 0; j < target.Length; j++) target[j] -= source[j];
        }
    }

    // C[0..8] += (left, right): adding a negated sum equals subtracting it, bit for bit.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddRow(ref double row, Vector256<double> left, Vector256<double> right)
    {
        (Vector256.LoadUnsafe(ref row) + left).StoreUnsafe(ref row);
        (Vector256.LoadUnsafe(ref row, 4) + right).StoreUnsafe(ref row, 4);
    }

    private static void ScalarTile(double[] packedA, int aAt, double[] packedB, int bAt, int kc, Span<double> sums)
    {
        sums.Clear();
        for (int p = 0; p < kc; p++)
            for (int r = 0; r < TileRows; r++)
            {
                double x = packedA[aAt + p * TileRows + r];
                for (int j = 0; j < TileColumns; j++)
                    sums[r * TileColumns + j] = Math.FusedMultiplyAdd(x, packedB[bAt + p * TileColumns + j], sums[r * TileColumns + j]);
            }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void VectorTile(double[] packedA, int aAt, double[] packedB, int bAt, int kc, ref double c, int cStride, double alpha)
    {
        ref double a = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(packedA), aAt);
        ref double b = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(packedB), bAt);
        Vector256<double> c00 = Vector256<double>.Zero, c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00,
            c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector256.LoadUnsafe(ref b);
            var b1 = Vector256.LoadUnsafe(ref b, 4);
            var x = Vector256.Create(a);
            c00 = Fma.MultiplyAdd(x, b0, c00); c01 = Fma.MultiplyAdd(x, b1, c01);
            x = Vector256.Create(Unsafe.Add(ref a, 1));
            c10 = Fma.MultiplyAdd(x, b0, c10); c11 = Fma.MultiplyAdd(x, b1, c11);
            x = Vector256.Create(Unsafe.Add(ref a, 2));
            c20 = Fma.MultiplyAdd(x, b0, c20); c21 = Fma.MultiplyAdd(x, b1, c21);
            x = Vector256.Create(Unsafe.Add(ref a, 3));
            c30 = Fma.MultiplyAdd(x, b0, c30); c31 = Fma.MultiplyAdd(x, b1, c31);
            x = Vector256.Create(Unsafe.Add(ref a, 4));
            c40 = Fma.MultiplyAdd(x, b0, c40); c41 = Fma.MultiplyAdd(x, b1, c41);
            x = Vector256.Create(Unsafe.Add(ref a, 5));
            c50 = Fma.MultiplyAdd(x, b0, c50); c51 = Fma.MultiplyAdd(x, b1, c51);
            a = ref Unsafe.Add(ref a, TileRows);
            b = ref Unsafe.Add(ref b, TileColumns);
        }
        if (alpha < 0)
        {
            c00 = -c00; c01 = -c01; c10 = -c10; c11 = -c11; c20 = -c20; c21 = -c21;
            c30 = -c30; c31 = -c31; c40 = -c40; c41 = -c41; c50 = -c50; c51 = -c51;
        }
        AddRow(ref c, c00, c01);
        AddRow(ref Unsafe.Add(ref c, cStride), c10, c11);
        AddRow(ref Unsafe.Add(ref c, 2 * cStride), c20, c21);
        AddRow(ref Unsafe.Add(ref c, 3 * cStride), c30, c31);
        AddRow(ref Unsafe.Add(ref c, 4 * cStride), c40, c41);
        AddRow(ref Unsafe.Add(ref c, 5 * cStride), c50, c51);
    }
}
