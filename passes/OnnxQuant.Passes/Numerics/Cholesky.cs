namespace OnnxQuant.Passes.Numerics;

/// <summary>
/// Cholesky factorizations of symmetric positive definite matrices (MathNet.Numerics' managed blocked factorization:
/// a 4096×4096 factor took 11 s on the 2-core development machine under load, against 29 s for a hand-written
/// vectorized one). GPTQ uses <see cref="UpperOfInverse"/> on its damped K×K Hessian.
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

    /// <summary>
    /// Upper-triangular U with A⁻¹ = Uᵀ·U and a positive diagonal (what GPTQ's column updates read; torch computes it
    /// as cholesky(cholesky_inverse(cholesky(A)), upper=True)). Computed without forming A⁻¹: with J the reversal
    /// permutation, JAJ = L′L′ᵀ gives A = U′U′ᵀ with U′ = JL′J upper, so A⁻¹ = U′⁻ᵀU′⁻¹ and U = U′⁻¹ — one
    /// factorization and one triangular inverse instead of two factorizations and an inverse.
    /// </summary>
    public static DoubleMatrix UpperOfInverse(DoubleMatrix symmetricPositiveDefinite)
    {
        symmetricPositiveDefinite.RequireSquare("Cholesky");
        var reversedLower = Lower(Reversed(symmetricPositiveDefinite));
        return TriangularMatrix.InverseUpper(Reversed(reversedLower));
    }

    // J·A·J (rows and columns in reverse order) is the column-major array read backwards.
    private static DoubleMatrix Reversed(DoubleMatrix a)
    {
        var values = (double[])a.ColumnMajor().Clone();
        Array.Reverse(values);
        return new(MathNet.Numerics.LinearAlgebra.Matrix<double>.Build.Dense(a.Rows, a.Columns, values));
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
