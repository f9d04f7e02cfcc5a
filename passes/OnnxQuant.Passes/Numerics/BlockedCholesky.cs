namespace OnnxQuant.Passes.Numerics;

/// <summary>
/// Blocked Cholesky factorization, lower-triangular inverse and GPTQ's upper Cholesky factor of the inverse on
/// row-major double arrays, with their O(n³) work in <see cref="PackedMatrixProduct"/> (vectorized, both cores).
/// Right-looking factorization by blocks of <see cref="BlockOrder"/> columns (LAPACK's dpotrf): factor the diagonal
/// block, solve the panel below it against that block's inverse, update the trailing lower triangle with the panel's
/// symmetric rank-k product. The inverse goes by independent column blocks: X_JJ = L_JJ⁻¹, then
/// X_IJ = −X_II·(Σ_{J≤P&lt;I} L_IP·X_PJ) for I below J. It replaces MathNet's managed Cholesky and the 2×2-recursive
/// triangular inverse for GPTQ (K = 5632: 107 s of CPU before), results equal to those within rounding (summation
/// order differs).
/// </summary>
public static class BlockedCholesky
{
    /// <summary>Columns per block: large enough that the products dominate, small enough that the unblocked diagonal
    /// work (n·BlockOrder²/3) stays a few percent.</summary>
    private const int BlockOrder = 96;

    /// <summary>Relative asymmetry above which a matrix is refused rather than silently read by one triangle.</summary>
    private const double SymmetryTolerance = 1e-10;

    /// <summary>
    /// U, upper triangular, with A⁻¹ = Uᵀ·U and a positive diagonal (torch's cholesky(cholesky_inverse(cholesky(A)),
    /// upper=True), which GPTQ's column updates read), row-major. With J the reversal, J·A·J = L·Lᵀ gives
    /// A = (JLJ)(JLJ)ᵀ, so U = (JLJ)⁻¹ = J·L⁻¹·J: one factorization and one triangular inverse, no explicit A⁻¹.
    /// <paramref name="symmetricPositiveDefinite"/> (n×n row-major) is left unchanged.
    /// </summary>
    public static double[] UpperOfInverse(double[] symmetricPositiveDefinite, int n)
    {
        RequireLength(symmetricPositiveDefinite, n);
        return UpperOfInverseOverwriting((double[])symmetricPositiveDefinite.Clone(), n);
    }

    /// <summary>
    /// <see cref="UpperOfInverse"/> that uses <paramref name="symmetricPositiveDefinite"/> as its work space (its
    /// contents are lost): one K×K array less at the peak (254 MB at K = 5632) for a caller that built it to factor it.
    /// </summary>
    public static double[] UpperOfInverseOverwriting(double[] symmetricPositiveDefinite, int n)
    {
        RequireSymmetric(symmetricPositiveDefinite, n);
        var reversed = symmetricPositiveDefinite;
        Array.Reverse(reversed);  // J·A·J: the row-major array read backwards
        FactorLowerInPlace(reversed, n, reversedOrder: true);
        var inverse = InverseLower(reversed, n);
        Array.Reverse(inverse);
        return inverse;
    }

    /// <summary>L, lower triangular (zeros above the diagonal), with A = L·Lᵀ and a positive diagonal; A unchanged.</summary>
    public static double[] Lower(double[] symmetricPositiveDefinite, int n)
    {
        RequireSymmetric(symmetricPositiveDefinite, n);
        var l = (double[])symmetricPositiveDefinite.Clone();
        FactorLowerInPlace(l, n, reversedOrder: false);
        return l;
    }

    /// <summary>L⁻¹ for lower-triangular L (n×n row-major; entries above the diagonal are not read), exactly lower triangular.</summary>
    public static double[] InverseLower(double[] lower, int n)
    {
        RequireLength(lower, n);
        for (int i = 0; i < n; i++)
        {
            double d = lower[i * n + i];
            if (d == 0 || !double.IsFinite(d))
                throw new ArgumentException($"the {n}×{n} lower-triangular matrix is singular: diagonal entry {i} is {d}");
        }
        var x = new double[(long)n * n];
        int blocks = (n + BlockOrder - 1) / BlockOrder;
        Parallel.For(0, blocks, block =>
        {
            int i0 = block * BlockOrder;
            InvertDiagonalBlock(lower, x, n, i0, Math.Min(BlockOrder, n - i0));
        });
        // Column blocks are independent; the first has the most work, so they are started in order.
        Parallel.For(0, blocks, column =>
        {
            int j0 = column * BlockOrder, jb = Math.Min(BlockOrder, n - j0);
            var sum = new double[BlockOrder * BlockOrder];
            for (int row = column + 1; row < blocks; row++)
            {
                int i0 = row * BlockOrder, ib = Math.Min(BlockOrder, n - i0);
                Array.Clear(sum);
                // sum = L[I, J0..I0) · X[J0..I0, J]
                PackedMatrixProduct.MultiplyAdd(new(lower, i0 * n + j0, n), new(x, j0 * n + j0, n), sum, 0, jb, ib, jb, i0 - j0, 1, parallel: false);
                // X_IJ = −X_II · sum
                PackedMatrixProduct.MultiplyAdd(new(x, i0 * n + i0, n), new(sum, 0, jb), x, i0 * n + j0, n, ib, jb, ib, -1, parallel: false);
            }
        });
        return x;
    }

    /// <summary>In place: the lower triangle of <paramref name="a"/> becomes L, the upper triangle zeros.</summary>
    private static void FactorLowerInPlace(double[] a, int n, bool reversedOrder)
    {
        var diagonalInverse = new double[BlockOrder * BlockOrder];
        for (int k0 = 0; k0 < n; k0 += BlockOrder)
        {
            int kb = Math.Min(BlockOrder, n - k0);
            FactorDiagonalBlock(a, n, k0, kb, reversedOrder);
            int rest = n - k0 - kb;
            if (rest == 0) break;
            // Panel: L21 = A21 · L11⁻ᵀ, through L11⁻¹ (kb³/6) so the m×kb×kb solve is a product.
            Array.Clear(diagonalInverse);
            InvertLowerDirect(a, n, k0, kb, diagonalInverse, kb);
            var panel = new double[rest * kb];
            PackedMatrixProduct.MultiplyAdd(new(a, (k0 + kb) * n + k0, n), new(diagonalInverse, 0, kb, Transposed: true),
                panel, 0, kb, rest, kb, kb, 1);
            for (int i = 0; i < rest; i++) panel.AsSpan(i * kb, kb).CopyTo(a.AsSpan((k0 + kb + i) * n + k0, kb));
            // Trailing lower triangle: A22 −= L21·L21ᵀ.
            PackedMatrixProduct.MultiplyAdd(new(panel, 0, kb), new(panel, 0, kb, Transposed: true),
                a, (k0 + kb) * n + k0 + kb, n, rest, rest, kb, -1, lowerOnly: true);
        }
        for (int i = 0; i < n; i++) a.AsSpan(i * n + i + 1, n - i - 1).Clear();
    }

    // Unblocked Cholesky of the kb×kb diagonal block at (k0, k0), whose trailing updates are applied.
    private static void FactorDiagonalBlock(double[] a, int n, int k0, int kb, bool reversedOrder)
    {
        for (int j = 0; j < kb; j++)
        {
            int rowJ = (k0 + j) * n + k0;
            double d = a[rowJ + j];
            for (int p = 0; p < j; p++) d -= a[rowJ + p] * a[rowJ + p];
            if (!(d > 0))
            {
                int column = reversedOrder ? n - 1 - (k0 + j) : k0 + j;
                throw new ArgumentException(
                    $"Cholesky: the {n}×{n} matrix is not positive definite (pivot {d:G3} at column {column}); " +
                    "add damping to its diagonal (e.g. 1% of its mean diagonal entry)");
            }
            double diagonal = Math.Sqrt(d);
            a[rowJ + j] = diagonal;
            for (int i = j + 1; i < kb; i++)
            {
                int rowI = (k0 + i) * n + k0;
                double s = a[rowI + j];
                for (int p = 0; p < j; p++) s -= a[rowI + p] * a[rowJ + p];
                a[rowI + j] = s / diagonal;
            }
        }
    }

    // X_II = L_II⁻¹ for the diagonal block at (i0, i0), written into x (n×n).
    private static void InvertDiagonalBlock(double[] lower, double[] x, int n, int i0, int ib) =>
        InvertLowerDirect(lower, n, i0, ib, x, n, i0 * n + i0);

    // Column j of the block's inverse solves L·y = e_j by forward substitution (zero above row j).
    private static void InvertLowerDirect(double[] l, int n, int i0, int ib, double[] target, int targetStride, int targetOffset = 0)
    {
        for (int j = 0; j < ib; j++)
        {
            target[targetOffset + j * targetStride + j] = 1.0 / l[(i0 + j) * n + i0 + j];
            for (int i = j + 1; i < ib; i++)
            {
                int row = (i0 + i) * n + i0;
                double sum = 0;
                for (int p = j; p < i; p++) sum += l[row + p] * target[targetOffset + p * targetStride + j];
                target[targetOffset + i * targetStride + j] = -sum / l[row + i];
            }
        }
    }

    private static void RequireLength(double[] a, int n)
    {
        if (n <= 0 || a.Length != (long)n * n)
            throw new ArgumentException($"{a.Length} entries are not a square matrix of order {n}");
    }

    private static void RequireSymmetric(double[] a, int n)
    {
        RequireLength(a, n);
        double scale = 0;
        foreach (var v in a)
        {
            if (!double.IsFinite(v)) throw new ArgumentException($"Cholesky: the {n}×{n} matrix has a non-finite entry ({v})");
            scale = Math.Max(scale, Math.Abs(v));
        }
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++)
            {
                double difference = Math.Abs(a[i * n + j] - a[j * n + i]);
                if (!(difference <= SymmetryTolerance * scale))
                    throw new ArgumentException(
                        $"Cholesky: the {n}×{n} matrix is not symmetric (entries ({j},{i}) and ({i},{j}) differ by {difference:G3}); " +
                        "symmetrize it as (A + Aᵀ)/2 first");
            }
    }
}
