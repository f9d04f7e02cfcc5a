namespace OnnxQuant.Passes.Numerics;

/// <summary>
/// Cholesky factorization of a symmetric positive definite <see cref="DoubleMatrix"/> (MathNet.Numerics' managed
/// factorization). GPTQ's large Hessians go through <see cref="BlockedCholesky"/> instead (row-major arrays, packed
/// vectorized products on both cores); this one is the reference its tests compare with.
/// </summary>
public static class Cholesky
{
    /// <summary>Relative asymmetry above which a matrix is refused rather than silently read by one triangle.</summary>
    private const double SymmetryTolerance = 1e-10;

    /// <summary>Lower-triangular L with A = L·Lᵀ and a positive diagonal.</summary>
    public static DoubleMatrix Lower(DoubleMatrix symmetricPositiveDefinite)
    {
        RequireSymmetric(symmetricPositiveDefinite);
        try
        {
            return new(symmetricPositiveDefinite.Inner.Cholesky().Factor);
        }
        catch (ArgumentException)
        {
            throw new ArgumentException(
                $"Cholesky: the {symmetricPositiveDefinite.Shape} matrix is not positive definite; " +
                "add damping to its diagonal (e.g. 1% of its mean diagonal entry)");
        }
    }

    private static void RequireSymmetric(DoubleMatrix a)
    {
        a.RequireSquare("Cholesky");
        var values = a.ColumnMajor();
        int n = a.Rows;
        foreach (var v in values)
            if (!double.IsFinite(v))
                throw new ArgumentException($"Cholesky: the {a.Shape} matrix has a non-finite entry ({v})");
        double scale = a.MaxAbs();
        for (int j = 0; j < n; j++)
            for (int i = j + 1; i < n; i++)
            {
                double difference = Math.Abs(values[j * n + i] - values[i * n + j]);
                if (!(difference <= SymmetryTolerance * scale))
                    throw new ArgumentException(
                        $"Cholesky: the {a.Shape} matrix is not symmetric (entries ({i},{j}) and ({j},{i}) differ by {difference:G3}); " +
                        "symmetrize it as (A + Aᵀ)/2 first");
            }
    }
}
