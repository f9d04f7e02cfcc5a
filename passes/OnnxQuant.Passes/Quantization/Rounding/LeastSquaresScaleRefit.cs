using OnnxQuant.Passes.Numerics;

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
/// for an int32 bias). Cost per row: 1.5·K² multiply-adds (H·w, and c_gᵀH c_t for g ≥ t) in tiled matrix products,
/// plus the 2B×2B solve.
/// </summary>
internal static class LeastSquaresScaleRefit
{
    /// <param name="weights">The weight GPTQ rounded, row-major [rows, k] (dead columns zeroed).</param>
    /// <param name="h">The damped Hessian, k×k row-major, original column order.</param>
    public static void Refit(BlockQuantizedRows q, float[] weights, double[] h, WeightGrid grid)
    {
        int k = q.Columns, blocks = q.BlockCount, bs = q.BlockSize;
        var blockSums = BlockSums(h, k, bs, blocks);
        // Rows in tiles: H's products serve the whole tile (H is K×K doubles, 254 MB at K = 5632). Each row's sums
        // do not depend on the tile, so neither does the result.
        const int tileRows = 128;
        // Each worker keeps one scratch (a tile's normal equations: 128 × (2B)² doubles, 127 MB at K = 5632 with
        // blocks of 32; the solve's copies) for every tile it takes: allocated per row they were ≈ 2 MB of
        // large-object garbage per row, gigabytes per layer, which the GC let pile up (the 311M Llama's w4a16-gptq
        // peaked at 7.3 GB). The values are the same.
        // Parallel.For's local state is per task replica, not per thread: a replica gives its thread back after a
        // time slice and the next one calls localInit again, so with tiles of about a second each tile got a new
        // scratch (2 GB of garbage for the 16 tiles of K = 5632, peak RSS 4.3 GB on one default-shape block). The
        // scratches go back to a pool instead: as many as run at once.
        // The degree is bounded as well: tiles run for seconds, so the thread pool, seeing no work item finish, adds
        // threads, and each concurrent tile holds a scratch.
        var pool = new System.Collections.Concurrent.ConcurrentBag<RefitScratch>();
        var parallelism = new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount };
        Parallel.For(0, (q.Rows + tileRows - 1) / tileRows, parallelism, () => pool.TryTake(out var reused) ? reused : new RefitScratch(), (tile, _, scratch) =>
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
            var equations = NormalEquations(w, codes, h, blockSums, bs, blocks, scratch);
            for (int t = 0; t < count; t++)
                RefitRow(q, grid, first + t, equations.M(t), equations.Rhs[t], equations.WHw[t], scratch);
            return scratch;
        }, pool.Add);
    }

    /// <summary>A refit worker's buffers, reused from tile to tile and row to row (grown when too small).</summary>
    internal sealed class RefitScratch
    {
        public double[] Equations = [];
        public double[] Solve = [];
        public double[] Reduced = [];
        public double[] WRows = [];
        public double[] CodeRows = [];
        public double[] Hw = [];
        public double[] Z = [];

        public static double[] AtLeast(ref double[] buffer, long length)
        {
            if (buffer.Length < length) buffer = new double[length];
            return buffer;
        }
    }

    /// <summary>
    /// The normal equations of a tile's rows: row r's BᵀHB (n×n, n = 2B) at [r·n², (r+1)·n²) of one buffer, its BᵀHw
    /// and wᵀHw.
    /// </summary>
    internal sealed class NormalEquationsTile(double[] storage, int n, double[][] rhs, double[] whw)
    {
        public double[][] Rhs { get; } = rhs;
        public double[] WHw { get; } = whw;

        public Span<double> M(int row) => storage.AsSpan(row * n * n, n * n);
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
    private static void RefitRow(BlockQuantizedRows q, WeightGrid grid, int r, ReadOnlySpan<double> m, double[] rhs, double whw, RefitScratch scratch)
    {
        int blocks = q.BlockCount, n = 2 * blocks;
        var oldScales = q.Scales.AsSpan(r * blocks, blocks).ToArray();
        var oldZeros = q.ZeroPoints.AsSpan(r * blocks, blocks).ToArray();
        double before = Error(m, rhs, whw, oldScales, oldZeros);

        var zeros = (int[])oldZeros.Clone();
        if (!grid.Symmetric)
        {
            var copy = RefitScratch.AtLeast(ref scratch.Solve, (long)n * n);
            m.CopyTo(copy);
            var free = SolveSymmetric(copy, (double[])rhs.Clone(), n);
            if (free is null) return;
            for (int g = 0; g < blocks; g++)
            {
                double s = free[2 * g], offset = free[2 * g + 1];
                if (s == 0 || !double.IsFinite(s) || !double.IsFinite(offset)) return;
                zeros[g] = (int)Math.Clamp(Math.Round(-offset / s, MidpointRounding.ToEven), 0, grid.MaxCode);
            }
        }
        // With the zero points fixed, ŵ on block g is s_g·(codes − z_g): B scales, normal equations PᵀMP, Pᵀrhs.
        var reduced = RefitScratch.AtLeast(ref scratch.Reduced, (long)blocks * blocks);
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
    /// BᵀHB (2B×2B), BᵀHw and wᵀHw for the basis of <see cref="Refit"/>. The O(K²) parts are products with H for the
    /// whole tile (<see cref="PackedMatrixProduct"/>): H·Wᵀ (K×rows) gives (Hw)_i, and per block t,
    /// H[i ≥ t's start, block t]·codes_tᵀ gives (H c_t)_i for the blocks g ≥ t, so c_gᵀH c_t is formed once per pair
    /// and mirrored (BᵀHB is symmetric). The entries with a ones vector come from <paramref name="blockSums"/>.
    /// A row's sums do not depend on the other rows of the tile (each product entry is summed alone).
    /// </summary>
    internal static NormalEquationsTile NormalEquations(double[][] ws, double[][] allCodes, double[] h, double[] blockSums, int bs, int blocks,
        RefitScratch? scratch = null)
    {
        int k = ws[0].Length, n = 2 * blocks, count = ws.Length;
        scratch ??= new RefitScratch();
        var storage = RefitScratch.AtLeast(ref scratch.Equations, (long)count * n * n);
        Array.Clear(storage, 0, count * n * n);
        var rhsOf = new double[count][];
        var whwOf = new double[count];
        // The tile's K×rows work arrays (5.8 MB each at K = 5632, 128 rows) are the scratch's too: every entry read is
        // written first (hw and z are cleared where the products add into them).
        var wRows = RefitScratch.AtLeast(ref scratch.WRows, (long)count * k);
        var codeRows = RefitScratch.AtLeast(ref scratch.CodeRows, (long)count * k);
        for (int r = 0; r < count; r++)
        {
            ws[r].CopyTo(wRows, r * k);
            allCodes[r].CopyTo(codeRows, r * k);
        }
        // (Hw)_i for every row: hw[i·count + r].
        var hw = RefitScratch.AtLeast(ref scratch.Hw, (long)k * count);
        Array.Clear(hw, 0, k * count);
        PackedMatrixProduct.MultiplyAdd(new(h, 0, k), new(wRows, 0, k, Transposed: true), hw, 0, count, k, count, k, 1, parallel: false);
        var onesOnes = new double[blocks * blocks];
        for (int i = 0; i < k; i++)
            for (int t = 0; t < blocks; t++) onesOnes[i / bs * blocks + t] += blockSums[i * blocks + t];
        for (int r = 0; r < count; r++)
        {
            var m = storage.AsSpan(r * n * n, n * n);
            var rhs = new double[n];
            double whw = 0;
            var codes = allCodes[r];
            var w = ws[r];
            for (int i = 0; i < k; i++)
            {
                int g = i / bs;
                double hwi = hw[i * count + r], code = codes[i];
                rhs[2 * g] += code * hwi;
                rhs[2 * g + 1] += hwi;
                whw += w[i] * hwi;
                // c_gᵀ H 1_t, in row 2g and (by symmetry) column 2g.
                var ones = blockSums.AsSpan(i * blocks, blocks);
                var codesRow = m.Slice(2 * g * n, n);
                for (int t = 0; t < blocks; t++) codesRow[2 * t + 1] += code * ones[t];
            }
            for (int g = 0; g < blocks; g++)
                for (int t = 0; t < blocks; t++)
                {
                    m[(2 * t + 1) * n + 2 * g] = m[2 * g * n + 2 * t + 1];
                    m[(2 * g + 1) * n + 2 * t + 1] = onesOnes[g * blocks + t];
                }
            (rhsOf[r], whwOf[r]) = (rhs, whw);
        }
        // c_gᵀ H c_t for g ≥ t from z = H[t's start.., block t] · codes_tᵀ, then mirrored.
        var z = RefitScratch.AtLeast(ref scratch.Z, (long)k * count);
        for (int t = 0; t < blocks; t++)
        {
            int t0 = t * bs, length = Math.Min(k, t0 + bs) - t0, below = k - t0;
            Array.Clear(z, 0, below * count);
            PackedMatrixProduct.MultiplyAdd(new(h, t0 * k + t0, k), new(codeRows, t0, k, Transposed: true), z, 0, count, below, count, length, 1, parallel: false);
            for (int r = 0; r < count; r++)
            {
                var codes = allCodes[r];
                var m = storage.AsSpan(r * n * n, n * n);
                for (int g = t; g < blocks; g++)
                {
                    int g0 = g * bs, end = Math.Min(k, g0 + bs);
                    double sum = 0;
                    for (int i = g0; i < end; i++) sum += codes[i] * z[(i - t0) * count + r];
                    m[2 * g * n + 2 * t] = sum;
                    m[2 * t * n + 2 * g] = sum;
                }
            }
        }
        return new NormalEquationsTile(storage, n, rhsOf, whwOf);
    }

    private static double Sum(ReadOnlySpan<double> a)
    {
        double sum = 0;
        foreach (double v in a) sum += v;
        return sum;
    }

    /// <summary>The row's error for scales s_g and zero points z_g (c_2g = s_g, c_2g+1 = −s_g·z_g).</summary>
    private static double Error(ReadOnlySpan<double> m, double[] rhs, double whw, float[] scales, int[] zeros)
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
                GptqRounder.SubtractScaled(a.AsSpan(r * n + c, n - c), f, a.AsSpan(c * n + c, n - c));
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
