using System.Numerics;

namespace OnnxQuant.Passes.Quantization.Rounding;

/// <summary>
/// Least-squares scale correction after GPTQ (the prototype; in the spirit of the scale re-fit of GPTQT and
/// OmniQuant's learned scales, here in closed form): the integer codes q stay, and each row's block scales s_g (and,
/// asymmetric, zero points z_g) are re-solved to minimize the layer output error (w − ŵ) H (w − ŵ)ᵀ with
/// ŵ_j = (q_j − z_g)·s_g, H the damped Hessian GPTQ used. GPTQ chose the codes for scales fixed before rounding (from
/// the unquantized weight under act-order); given the codes, the best scales are a small linear least-squares problem.
/// <list type="number">
/// <item>Asymmetric: ŵ_j = s_g·q_j + m_g is linear in (s_g, m_g); solve the 2B×2B normal equations, take
/// z_g = round(−m_g / s_g) clamped to the code range (MatMulNBits stores integer zero points), then re-solve the B
/// scales with those zero points. Symmetric: the zero point is fixed, solve the B scales.</item>
/// <item>Scales are rounded to their stored float type; the row keeps its old scales unless the new ones give a
/// strictly smaller error (so the correction never makes a row worse on the calibration Hessian).</item>
/// </list>
/// Not used with a per-tensor grid (one scale shared by all rows) or with scales imposed from outside (e.g. widened
/// for an int32 bias). Cost per row: O(K²) for H·ŵ-type products, like GPTQ itself.
/// </summary>
internal static class LeastSquaresScaleRefit
{
    /// <param name="weights">The weight GPTQ rounded, row-major [rows, k] (dead columns zeroed).</param>
    /// <param name="h">The damped Hessian, k×k row-major, original column order.</param>
    public static void Refit(BlockQuantizedRows q, float[] weights, double[] h, WeightGrid grid)
    {
        int k = q.Columns, blocks = q.BlockCount, bs = q.BlockSize;
        var blockSums = BlockSums(h, k, bs, blocks);
        // Rows in tiles of 16: one sweep over H serves the tile (H is K×K doubles; per row it was memory-bound).
        // Each row's sums are the per-row computation's, in the same order, so the result does not depend on the tile.
        const int tileRows = 16;
        Parallel.For(0, (q.Rows + tileRows - 1) / tileRows, tile =>
        {
            int first = tile * tileRows, count = Math.Min(tileRows, q.Rows - first);
            var w = new double[count][];
            var codes = new double[count][];
            for (int t = 0; t < count; t++)
            {
                long offset = (long)(first + t) * k;
                w[t] = new double[k];
                codes[t] = new double[k];
                for (int j = 0; j < k; j++)
                {
                    w[t][j] = weights[offset + j];
                    codes[t][j] = q.Codes[offset + j];
                }
            }
            // Basis of ŵ: vector 2g is the codes on block g, 2g + 1 is 1 on block g; ŵ = Σ c_u b_u with
            // c_2g = s_g and c_2g+1 = −s_g·z_g. The error of any c is wᵀHw − 2cᵀ(Bᵀ H w) + cᵀ(BᵀHB)c.
            var equations = NormalEquations(w, codes, h, blockSums, bs, blocks);
            for (int t = 0; t < count; t++)
                RefitRow(q, grid, first + t, equations[t].M, equations[t].Rhs, equations[t].WHw);
        });
    }

    /// <summary>(H·1_t)_i, H's row sums over each block t: the same for every weight row.</summary>
    internal static double[] BlockSums(double[] h, int k, int bs, int blocks)
    {
        var blockSums = new double[k * blocks];
        for (int i = 0; i < k; i++)
            for (int t = 0; t < blocks; t++)
            {
                int start = t * bs;
                blockSums[i * blocks + t] = Sum(h.AsSpan(i * k + start, Math.Min(k, start + bs) - start));
            }
        return blockSums;
    }

    /// <summary>New scales (and zero points) for row r from its normal equations, kept only if its error drops.</summary>
    private static void RefitRow(BlockQuantizedRows q, WeightGrid grid, int r, double[] m, double[] rhs, double whw)
    {
        int blocks = q.BlockCount, n = 2 * blocks;
        var oldScales = q.Scales.AsSpan(r * blocks, blocks).ToArray();
        var oldZeros = q.ZeroPoints.AsSpan(r * blocks, blocks).ToArray();
        double before = Error(m, rhs, whw, oldScales, oldZeros);

        var zeros = (int[])oldZeros.Clone();
        if (!grid.Symmetric)
        {
            var free = SolveSymmetric((double[])m.Clone(), (double[])rhs.Clone(), n);
            if (free is null) return;
            for (int g = 0; g < blocks; g++)
            {
                double s = free[2 * g], offset = free[2 * g + 1];
                if (s == 0 || !double.IsFinite(s) || !double.IsFinite(offset)) return;
                zeros[g] = (int)Math.Clamp(Math.Round(-offset / s, MidpointRounding.ToEven), 0, grid.MaxCode);
            }
        }
        // With the zero points fixed, ŵ on block g is s_g·(codes − z_g): B scales, normal equations PᵀMP, Pᵀrhs.
        var reduced = new double[blocks * blocks];
        var reducedRhs = new double[blocks];
        for (int g = 0; g < blocks; g++)
        {
            reducedRhs[g] = rhs[2 * g] - zeros[g] * rhs[2 * g + 1];
            for (int t = 0; t < blocks; t++)
                reduced[g * blocks + t] = m[2 * g * n + 2 * t] - zeros[t] * m[2 * g * n + 2 * t + 1]
                    - zeros[g] * m[(2 * g + 1) * n + 2 * t] + (double)zeros[g] * zeros[t] * m[(2 * g + 1) * n + 2 * t + 1];
        }
        var scales = SolveSymmetric(reduced, reducedRhs, blocks);
        if (scales is null) return;
        var rounded = new float[blocks];
        for (int g = 0; g < blocks; g++)
        {
            if (scales[g] == 0 || !double.IsFinite(scales[g])) return;
            rounded[g] = QdqMath.RoundScale(scales[g], grid.ScaleType);
        }
        if (!(Error(m, rhs, whw, rounded, zeros) < before)) return;
        rounded.CopyTo(q.Scales.AsSpan(r * blocks, blocks));
        zeros.CopyTo(q.ZeroPoints.AsSpan(r * blocks, blocks));
    }

    /// <summary>
    /// BᵀHB (2B×2B), BᵀHw and wᵀHw for the basis of <see cref="Refit"/>, in one sweep over H's rows: for row i (in
    /// block g) the dot products of H_i with each block's codes, ones and w are (H b)_i, accumulated into the rows
    /// of block g weighted by codes_i and 1. O(K²) per weight row, no K-sized temporaries per basis vector.
    /// </summary>
    internal static (double[] M, double[] Rhs, double WHw)[] NormalEquations(double[][] ws, double[][] allCodes, double[] h, double[] blockSums, int bs, int blocks)
    {
        int k = ws[0].Length, n = 2 * blocks, count = ws.Length;
        var result = new (double[] M, double[] Rhs, double WHw)[count];
        for (int t = 0; t < count; t++) result[t] = (new double[n * n], new double[n], 0);
        // Four weight rows at a time share each read of H's row and keep four independent sums in flight (one sum's
        // additions wait on each other); every sum is still Dot's, in Dot's order.
        const int group = 4;
        var hws = new double[group];
        var withCodesOf = new double[group][];
        for (int r = 0; r < group; r++) withCodesOf[r] = new double[blocks];
        for (int i = 0; i < k; i++)
        {
            var row = h.AsSpan(i * k, k);
            var ones = blockSums.AsSpan(i * blocks, blocks);
            int g = i / bs;
            for (int r = 0; r < count; r++)
            {
                int inGroup = r % group;
                if (inGroup == 0)
                {
                    int size = Math.Min(group, count - r);
                    if (size == group)
                    {
                        (hws[0], hws[1], hws[2], hws[3]) = Dot4(row, ws[r], ws[r + 1], ws[r + 2], ws[r + 3]);
                        for (int t = 0; t < blocks; t++)
                        {
                            int start = t * bs, length = Math.Min(k, start + bs) - start;
                            (withCodesOf[0][t], withCodesOf[1][t], withCodesOf[2][t], withCodesOf[3][t]) = Dot4(row.Slice(start, length),
                                allCodes[r].AsSpan(start, length), allCodes[r + 1].AsSpan(start, length),
                                allCodes[r + 2].AsSpan(start, length), allCodes[r + 3].AsSpan(start, length));
                        }
                    }
                    else
                        for (int s = 0; s < size; s++)
                        {
                            hws[s] = Dot(row, ws[r + s]);
                            for (int t = 0; t < blocks; t++)
                            {
                                int start = t * bs, length = Math.Min(k, start + bs) - start;
                                withCodesOf[s][t] = Dot(row.Slice(start, length), allCodes[r + s].AsSpan(start, length));
                            }
                        }
                }
                double[] w = ws[r], codes = allCodes[r], m = result[r].M, rhs = result[r].Rhs, withCodes = withCodesOf[inGroup];
                double hw = hws[inGroup];
                double code = codes[i];
                var codesRow = m.AsSpan(2 * g * n, n);
                var onesRow = m.AsSpan((2 * g + 1) * n, n);
                for (int t = 0; t < blocks; t++)
                {
                    codesRow[2 * t] += code * withCodes[t];
                    codesRow[2 * t + 1] += code * ones[t];
                    onesRow[2 * t] += withCodes[t];
                    onesRow[2 * t + 1] += ones[t];
                }
                rhs[2 * g] += code * hw;
                rhs[2 * g + 1] += hw;
                result[r].WHw += w[i] * hw;
            }
        }
        return result;
    }

    private static double Dot(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        int i = 0;
        double sum = 0;
        if (Vector.IsHardwareAccelerated && a.Length >= Vector<double>.Count)
        {
            var acc = Vector<double>.Zero;
            for (; i <= a.Length - Vector<double>.Count; i += Vector<double>.Count)
                acc += new Vector<double>(a[i..]) * new Vector<double>(b[i..]);
            sum = Vector.Sum(acc);
        }
        for (; i < a.Length; i++) sum += a[i] * b[i];
        return sum;
    }

    /// <summary>Dot(a, b0) … Dot(a, b3), each summed exactly as <see cref="Dot"/> sums it, in one pass over a.</summary>
    private static (double, double, double, double) Dot4(ReadOnlySpan<double> a, ReadOnlySpan<double> b0, ReadOnlySpan<double> b1,
        ReadOnlySpan<double> b2, ReadOnlySpan<double> b3)
    {
        int i = 0;
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        if (Vector.IsHardwareAccelerated && a.Length >= Vector<double>.Count)
        {
            Vector<double> acc0 = Vector<double>.Zero, acc1 = acc0, acc2 = acc0, acc3 = acc0;
            for (; i <= a.Length - Vector<double>.Count; i += Vector<double>.Count)
            {
                var x = new Vector<double>(a[i..]);
                acc0 += x * new Vector<double>(b0[i..]);
                acc1 += x * new Vector<double>(b1[i..]);
                acc2 += x * new Vector<double>(b2[i..]);
                acc3 += x * new Vector<double>(b3[i..]);
            }
            (s0, s1, s2, s3) = (Vector.Sum(acc0), Vector.Sum(acc1), Vector.Sum(acc2), Vector.Sum(acc3));
        }
        for (; i < a.Length; i++)
        {
            s0 += a[i] * b0[i];
            s1 += a[i] * b1[i];
            s2 += a[i] * b2[i];
            s3 += a[i] * b3[i];
        }
        return (s0, s1, s2, s3);
    }

    private static double Sum(ReadOnlySpan<double> a)
    {
        double sum = 0;
        foreach (double v in a) sum += v;
        return sum;
    }

    /// <summary>The row's error for scales s_g and zero points z_g (c_2g = s_g, c_2g+1 = −s_g·z_g).</summary>
    private static double Error(double[] m, double[] rhs, double whw, float[] scales, int[] zeros)
    {
        int n = rhs.Length;
        var c = new double[n];
        for (int g = 0; g < scales.Length; g++)
        {
            c[2 * g] = scales[g];
            c[2 * g + 1] = -(double)scales[g] * zeros[g];
        }
        double quadratic = 0, linear = 0;
        for (int u = 0; u < n; u++)
        {
            linear += c[u] * rhs[u];
            double sum = 0;
            for (int t = 0; t < n; t++) sum += m[u * n + t] * c[t];
            quadratic += c[u] * sum;
        }
        return whw - 2 * linear + quadratic;
    }

    /// <summary>Gaussian elimination with partial pivoting on the (small) normal equations; null when singular.</summary>
    private static double[]? SolveSymmetric(double[] a, double[] b, int n)
    {
        double scale = 0;
        for (int i = 0; i < n; i++) scale = Math.Max(scale, Math.Abs(a[i * n + i]));
        if (!(scale > 0)) return null;
        for (int c = 0; c < n; c++)
        {
            int pivot = c;
            for (int r = c + 1; r < n; r++)
                if (Math.Abs(a[r * n + c]) > Math.Abs(a[pivot * n + c])) pivot = r;
            if (Math.Abs(a[pivot * n + c]) <= 1e-12 * scale) return null;
            if (pivot != c)
            {
                for (int j = 0; j < n; j++) (a[c * n + j], a[pivot * n + j]) = (a[pivot * n + j], a[c * n + j]);
                (b[c], b[pivot]) = (b[pivot], b[c]);
            }
            for (int r = c + 1; r < n; r++)
            {
                double f = a[r * n + c] / a[c * n + c];
                if (f == 0) continue;
                for (int j = c; j < n; j++) a[r * n + j] -= f * a[c * n + j];
                b[r] -= f * b[c];
            }
        }
        var x = new double[n];
        for (int r = n - 1; r >= 0; r--)
        {
            double sum = b[r];
            for (int j = r + 1; j < n; j++) sum -= a[r * n + j] * x[j];
            x[r] = sum / a[r * n + r];
        }
        return x;
    }
}
