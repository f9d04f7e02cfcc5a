using OnnxQuant.Passes.Numerics;

namespace OnnxQuant.Passes.Quantization.Rounding;

/// <summary>
/// GPTQ's preparation of a layer's Hessian, shared by <see cref="GptqRounder"/> and <see cref="GptqtRounder"/>: inputs
/// that never fire (zero diagonal) get a unit diagonal and their weight column zeroed, the columns are ordered (by
/// decreasing diagonal under act-order), damping · mean(diag H) is added to the diagonal, and U with H⁻¹ = UᵀU is
/// formed in that order.
/// </summary>
/// <param name="Weights">The row-major weights with dead columns zeroed (a copy).</param>
/// <param name="H">The Hessian with dead diagonals set to 1, in the original column order (a copy when a diagonal was dead, else the given array, which must not change; no damping).</param>
/// <param name="Order">Column processing order: position i handles column Order[i].</param>
/// <param name="U">Upper Cholesky factor of the damped, permuted inverse, row-major k×k.</param>
internal sealed record GptqHessian(float[] Weights, double[] H, int[] Order, double[] U)
{
    public static GptqHessian Prepare(ReadOnlySpan<float> rows, int rowCount, double[] hessian, int k, bool actOrder, double damp) =>
        GptqFactorReuse.FactorOf(hessian, k, actOrder, damp).For(rows, rowCount, k);

    /// <summary>
    /// What depends on H alone (not on the weight): H with dead diagonals set to 1, the column order, U, and the dead
    /// columns; the O(K³) part, shared by layers that read one input (<see cref="GptqFactorReuse"/>).
    /// </summary>
    internal sealed record Factored(double[] H, int[] Order, double[] U, int[] DeadColumns, bool ActOrder, double Damp)
    {
        /// <summary>This factor with a copy of <paramref name="rows"/> whose dead columns are zeroed.</summary>
        public GptqHessian For(ReadOnlySpan<float> rows, int rowCount, int k)
        {
            var weights = rows.ToArray();
            foreach (int i in DeadColumns)
                for (int r = 0; r < rowCount; r++) weights[r * k + i] = 0;
            return new GptqHessian(weights, H, Order, U);
        }
    }

    public static Factored Factor(double[] hessian, int k, bool actOrder, double damp)
    {
        var dead = new List<int>();
        for (int i = 0; i < k; i++)
            if (hessian[i * k + i] == 0) dead.Add(i);
        // A copy only when a dead diagonal must change: otherwise H is shared with the caller (read only from here
        // on), one K×K array less (254 MB at K = 5632).
        var h = dead.Count == 0 ? hessian : (double[])hessian.Clone();
        foreach (int i in dead) h[i * k + i] = 1;
        var order = Enumerable.Range(0, k).ToArray();
        if (actOrder) order = order.OrderByDescending(i => h[i * k + i]).ThenBy(i => i).ToArray();
        double damping = Damping(h, k, damp);
        var permuted = new double[k * k];
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++)
                permuted[i * k + j] = h[order[i] * k + order[j]] + (i == j ? damping : 0);
        double[] u = BlockedCholesky.UpperOfInverseOverwriting(permuted, k);
        return new Factored(h, order, u, dead.ToArray(), actOrder, damp);
    }

    /// <summary>damp · mean(diag H).</summary>
    public static double Damping(double[] h, int k, double damp)
    {
        double meanDiagonal = 0;
        for (int i = 0; i < k; i++) meanDiagonal += h[i * k + i];
        return damp * meanDiagonal / k;
    }

    /// <summary>A copy of H (original column order) with damping added to its diagonal: the objective GPTQ minimizes.</summary>
    public static double[] Damped(double[] h, int k, double damp)
    {
        double damping = Damping(h, k, damp);
        var damped = (double[])h.Clone();
        for (int i = 0; i < k; i++) damped[i * k + i] += damping;
        return damped;
    }
}
