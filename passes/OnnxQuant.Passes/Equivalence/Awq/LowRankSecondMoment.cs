using System.Numerics.Tensors;

namespace OnnxQuant.Passes.Equivalence.Awq;

/// <summary>
/// H = XᵀX (K×K) written as FᵀF with F of r rows, r the numerical rank of H, for <see cref="AwqSearch.OutputError"/>:
/// Σ_n d_nᵀ·H·d_n = Σ_n ‖F·d_n‖², which costs N·K·r per candidate instead of N·K². With T calibration tokens r ≤ T,
/// so a model whose layers are wider than the tokens seen (the 2.7B shape: K = 2560 and 6912 on 8 × 128 tokens) is
/// searched 2.5–7× faster. F comes from Cholesky with diagonal pivoting (Higham, "Accuracy and Stability of Numerical
/// Algorithms", §10.3; LAPACK dpstrf's stopping rule): the largest remaining diagonal is eliminated first, and the
/// factorization stops when it is at most K·ε·max diag(H), so what is left out is at rounding level.
/// </summary>
internal sealed class LowRankSecondMoment
{
    private LowRankSecondMoment(double[] rows, int rank, int k) => (Rows, Rank, K) = (rows, rank, k);

    /// <summary>F row-major, <see cref="Rank"/> × <see cref="K"/>.</summary>
    public double[] Rows { get; }

    public int Rank { get; }

    public int K { get; }

    /// <summary>
    /// The factor of <paramref name="h"/> (K×K row-major, symmetric positive semidefinite), or null when its rank is
    /// more than K/2 (then the products with H itself cost at most twice as much, and the exact H is used).
    /// </summary>
    public static LowRankSecondMoment? TryFactor(double[] h, int k)
    {
        int limit = k / 2;
        var diagonal = new double[k];
        for (int i = 0; i < k; i++) diagonal[i] = h[(long)i * k + i];
        double tolerance = k * (Math.BitIncrement(1.0) - 1.0) * TensorPrimitives.Max<double>(diagonal);
        var pivoted = new bool[k];
        var rows = new List<double[]>();
        while (true)
        {
            int pivot = -1;
            double largest = tolerance;
            for (int i = 0; i < k; i++)
                if (!pivoted[i] && diagonal[i] > largest) (pivot, largest) = (i, diagonal[i]);
            if (pivot < 0) break;
            if (rows.Count == limit) return null;
            // Row p of F: (H[pivot, ·] − Σ_q F[q, pivot]·F[q, ·]) / √d_pivot; zero on the columns already pivoted.
            var f = new double[k];
            new ReadOnlySpan<double>(h, pivot * k, k).CopyTo(f);
            foreach (var q in rows)
                if (q[pivot] != 0) TensorPrimitives.MultiplyAdd(q, -q[pivot], f, f);
            double root = Math.Sqrt(largest);
            for (int j = 0; j < k; j++) f[j] = pivoted[j] ? 0 : f[j] / root;
            f[pivot] = root;
            pivoted[pivot] = true;
            for (int j = 0; j < k; j++)
                if (!pivoted[j]) diagonal[j] -= f[j] * f[j];
            rows.Add(f);
        }
        var packed = new double[(long)rows.Count * k];
        for (int p = 0; p < rows.Count; p++) rows[p].CopyTo(packed, (long)p * k);
        return new LowRankSecondMoment(packed, rows.Count, k);
    }
}
