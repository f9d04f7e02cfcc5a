namespace OnnxQuant.Passes.Quantization.Rounding;

/// <summary>
/// Fits binary coding (BCQ; Xu et al. 2018, used by GPTQT, Guo et al. 2024) to a group of values: v ≈ c + Σᵢ αᵢ·bᵢ
/// with bᵢ ∈ {−1, +1}, minimizing Σⱼ ωⱼ·(vⱼ − ĉⱼ)² (ω: importance, e.g. the Hessian's diagonal). Greedy start
/// (c = weighted mean, then αᵢ = weighted mean |residual|, bᵢ = sign), then alternating: least squares for (c, α) given
/// the signs, each value to its nearest of the 2^p levels, until the assignment stops changing. A linear grid of 2^p
/// evenly spaced levels is represented exactly (ALGORITHMS.md §4: αᵢ = s·2^(i−1), c = mid-range).
/// </summary>
public static class BinaryCoding
{
    public const int MaxPlanes = 4;

    /// <summary>The fitted code of one group: offset, scales (descending, ≥ 0) and each value's sign pattern (bit i: bᵢ = +1).</summary>
    public readonly record struct Fit(double Offset, double[] Alphas, int[] Patterns);

    public static Fit Solve(ReadOnlySpan<double> values, ReadOnlySpan<double> weights, int planes, int iterations = 30)
    {
        if (planes is < 1 or > MaxPlanes) throw new ArgumentOutOfRangeException(nameof(planes), planes, $"binary coding takes 1 to {MaxPlanes} planes.");
        int n = values.Length;
        var patterns = new int[n];
        double totalWeight = 0, mean = 0;
        for (int j = 0; j < n; j++) { totalWeight += weights[j]; mean += weights[j] * values[j]; }
        if (n == 0 || totalWeight <= 0) return new Fit(0, new double[planes], patterns);
        mean /= totalWeight;

        // Greedy: each plane codes the sign of what the planes before it left.
        var residual = new double[n];
        for (int j = 0; j < n; j++) residual[j] = values[j] - mean;
        var alphas = new double[planes];
        for (int i = 0; i < planes; i++)
        {
            double a = 0;
            for (int j = 0; j < n; j++) a += weights[j] * Math.Abs(residual[j]);
            alphas[i] = a / totalWeight;
            for (int j = 0; j < n; j++)
            {
                bool plus = residual[j] >= 0;
                if (plus) patterns[j] |= 1 << i;
                residual[j] -= plus ? alphas[i] : -alphas[i];
            }
        }
        double offset = mean;
        Canonical(ref offset, alphas, patterns);

        for (int iteration = 0; iteration < iterations; iteration++)
        {
            if (LeastSquares(values, weights, patterns, planes) is { } solved)
            {
                offset = solved[0];
                for (int i = 0; i < planes; i++) alphas[i] = solved[i + 1];
                Canonical(ref offset, alphas, patterns);
            }
            bool changed = false;
            for (int j = 0; j < n; j++)
            {
                int best = Nearest(values[j], offset, alphas);
                if (best != patterns[j]) { patterns[j] = best; changed = true; }
            }
            if (!changed) break;
        }
        return new Fit(offset, alphas, patterns);
    }

    /// <summary>c + Σᵢ αᵢ·(±1) of a pattern.</summary>
    public static double Level(double offset, ReadOnlySpan<double> alphas, int pattern)
    {
        double v = offset;
        for (int i = 0; i < alphas.Length; i++) v += ((pattern >> i) & 1) != 0 ? alphas[i] : -alphas[i];
        return v;
    }

    /// <summary>The pattern whose level is nearest to <paramref name="value"/> (lowest pattern on a tie).</summary>
    public static int Nearest(double value, double offset, ReadOnlySpan<double> alphas)
    {
        int best = 0;
        double bestDistance = double.PositiveInfinity;
        for (int p = 0; p < 1 << alphas.Length; p++)
        {
            double d = Math.Abs(value - Level(offset, alphas, p));
            if (d < bestDistance) { bestDistance = d; best = p; }
        }
        return best;
    }

    /// <summary>Makes every α ≥ 0 (flipping that plane's signs) and sorts the planes by decreasing α, so one code has one form.</summary>
    private static void Canonical(ref double offset, double[] alphas, int[] patterns)
    {
        int planes = alphas.Length;
        for (int i = 0; i < planes; i++)
        {
            if (alphas[i] >= 0) continue;
            alphas[i] = -alphas[i];
            for (int j = 0; j < patterns.Length; j++) patterns[j] ^= 1 << i;
        }
        var order = Enumerable.Range(0, planes).OrderByDescending(i => alphas[i]).ThenBy(i => i).ToArray();
        if (order.SequenceEqual(Enumerable.Range(0, planes))) return;
        var sorted = order.Select(i => alphas[i]).ToArray();
        sorted.CopyTo(alphas, 0);
        for (int j = 0; j < patterns.Length; j++)
        {
            int p = 0;
            for (int i = 0; i < planes; i++) if (((patterns[j] >> order[i]) & 1) != 0) p |= 1 << i;
            patterns[j] = p;
        }
    }

    /// <summary>Weighted least squares for (c, α₁ … α_p) given the signs; null when a plane is constant in the group
    /// (the normal equations are then singular: the previous values stay).</summary>
    private static double[]? LeastSquares(ReadOnlySpan<double> values, ReadOnlySpan<double> weights, int[] patterns, int planes)
    {
        int m = planes + 1;
        var a = new double[m, m + 1];
        var row = new double[m];
        for (int j = 0; j < values.Length; j++)
        {
            row[0] = 1;
            for (int i = 0; i < planes; i++) row[i + 1] = ((patterns[j] >> i) & 1) != 0 ? 1 : -1;
            for (int r = 0; r < m; r++)
            {
                for (int c = 0; c < m; c++) a[r, c] += weights[j] * row[r] * row[c];
                a[r, m] += weights[j] * row[r] * values[j];
            }
        }
        // Gaussian elimination with partial pivoting on the (m × m+1) augmented system.
        double scale = 0;
        for (int r = 0; r < m; r++) scale = Math.Max(scale, Math.Abs(a[r, r]));
        for (int col = 0; col < m; col++)
        {
            int pivot = col;
            for (int r = col + 1; r < m; r++) if (Math.Abs(a[r, col]) > Math.Abs(a[pivot, col])) pivot = r;
            if (Math.Abs(a[pivot, col]) <= 1e-12 * scale) return null;
            if (pivot != col)
                for (int c = 0; c <= m; c++) (a[col, c], a[pivot, c]) = (a[pivot, c], a[col, c]);
            for (int r = 0; r < m; r++)
            {
                if (r == col) continue;
                double f = a[r, col] / a[col, col];
                if (f == 0) continue;
                for (int c = col; c <= m; c++) a[r, c] -= f * a[col, c];
            }
        }
        var solution = new double[m];
        for (int r = 0; r < m; r++) solution[r] = a[r, m] / a[r, r];
        return solution;
    }
}
