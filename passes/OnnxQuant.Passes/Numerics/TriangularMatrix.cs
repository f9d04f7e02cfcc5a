using MathNet.Numerics.LinearAlgebra;

namespace OnnxQuant.Passes.Numerics;

/// <summary>
/// Solves and inverses with triangular matrices. MathNet.Numerics has no public triangular solve, so this recurses on
/// 2×2 block splits (L⁻¹ = [[A⁻¹, 0], [−C⁻¹·B·A⁻¹, C⁻¹]] for L = [[A, 0], [B, C]]) and lets the library's blocked
/// products do the O(n³) work; blocks of <see cref="DirectOrder"/> or fewer rows are substituted directly.
/// Only the named triangle of the input is read (entries on the other side are ignored), and results are exactly
/// triangular. A zero diagonal entry is refused: the matrix is singular.
/// </summary>
public static class TriangularMatrix
{
    /// <summary>Blocks up to this order use plain substitution; above it the recursion's products dominate.</summary>
    private const int DirectOrder = 64;

    /// <summary>L⁻¹ for lower-triangular <paramref name="lower"/>.</summary>
    public static DoubleMatrix InverseLower(DoubleMatrix lower)
    {
        lower.RequireSquare("a triangular inverse");
        RequireNonSingular(lower, "lower");
        return new(InvertLower(lower.Inner));
    }

    /// <summary>U⁻¹ for upper-triangular <paramref name="upper"/> (as (Uᵀ)⁻¹ᵀ, Uᵀ being lower).</summary>
    public static DoubleMatrix InverseUpper(DoubleMatrix upper)
    {
        upper.RequireSquare("a triangular inverse");
        RequireNonSingular(upper, "upper");
        return new(InvertLower(upper.Inner.Transpose()).Transpose());
    }

    /// <summary>X with L·X = B, for lower-triangular <paramref name="lower"/>.</summary>
    public static DoubleMatrix SolveLower(DoubleMatrix lower, DoubleMatrix rightHandSide)
    {
        RequireSolvable(lower, rightHandSide, "lower");
        return new(SolveLowerBlocks(lower.Inner, rightHandSide.Inner));
    }

    /// <summary>X with U·X = B, for upper-triangular <paramref name="upper"/>.</summary>
    public static DoubleMatrix SolveUpper(DoubleMatrix upper, DoubleMatrix rightHandSide)
    {
        RequireSolvable(upper, rightHandSide, "upper");
        return new(SolveUpperBlocks(upper.Inner, rightHandSide.Inner));
    }

    private static Matrix<double> InvertLower(Matrix<double> l)
    {
        int n = l.RowCount;
        if (n <= DirectOrder) return InvertLowerDirect(l);
        int h = n / 2;
        var topLeft = InvertLower(l.SubMatrix(0, h, 0, h));
        var bottomRight = InvertLower(l.SubMatrix(h, n - h, h, n - h));
        var bottomLeft = bottomRight.Multiply(l.SubMatrix(h, n - h, 0, h)).Multiply(topLeft).Negate();
        var result = Matrix<double>.Build.Dense(n, n);
        result.SetSubMatrix(0, 0, topLeft);
        result.SetSubMatrix(h, h, bottomRight);
        result.SetSubMatrix(h, 0, bottomLeft);
        return result;
    }

    // Column j of L⁻¹ solves L·x = e_j by forward substitution; it is zero above row j.
    private static Matrix<double> InvertLowerDirect(Matrix<double> l)
    {
        int n = l.RowCount;
        var a = l.ToArray();
        var inverse = new double[n, n];
        for (int j = 0; j < n; j++)
        {
            inverse[j, j] = 1.0 / a[j, j];
            for (int i = j + 1; i < n; i++)
            {
                double sum = 0;
                for (int k = j; k < i; k++) sum += a[i, k] * inverse[k, j];
                inverse[i, j] = -sum / a[i, i];
            }
        }
        return Matrix<double>.Build.DenseOfArray(inverse);
    }

    private static Matrix<double> SolveLowerBlocks(Matrix<double> l, Matrix<double> b)
    {
        int n = l.RowCount, m = b.ColumnCount;
        if (n <= DirectOrder) return SolveLowerDirect(l, b);
        int h = n / 2;
        var top = SolveLowerBlocks(l.SubMatrix(0, h, 0, h), b.SubMatrix(0, h, 0, m));
        var rest = b.SubMatrix(h, n - h, 0, m) - l.SubMatrix(h, n - h, 0, h).Multiply(top);
        var bottom = SolveLowerBlocks(l.SubMatrix(h, n - h, h, n - h), rest);
        var x = Matrix<double>.Build.Dense(n, m);
        x.SetSubMatrix(0, 0, top);
        x.SetSubMatrix(h, 0, bottom);
        return x;
    }

    private static Matrix<double> SolveUpperBlocks(Matrix<double> u, Matrix<double> b)
    {
        int n = u.RowCount, m = b.ColumnCount;
        if (n <= DirectOrder) return SolveUpperDirect(u, b);
        int h = n / 2;
        var bottom = SolveUpperBlocks(u.SubMatrix(h, n - h, h, n - h), b.SubMatrix(h, n - h, 0, m));
        var rest = b.SubMatrix(0, h, 0, m) - u.SubMatrix(0, h, h, n - h).Multiply(bottom);
        var top = SolveUpperBlocks(u.SubMatrix(0, h, 0, h), rest);
        var x = Matrix<double>.Build.Dense(n, m);
        x.SetSubMatrix(0, 0, top);
        x.SetSubMatrix(h, 0, bottom);
        return x;
    }

    private static Matrix<double> SolveLowerDirect(Matrix<double> l, Matrix<double> b)
    {
        int n = l.RowCount, m = b.ColumnCount;
        var a = l.ToArray();
        var x = b.ToArray();
        for (int c = 0; c < m; c++)
            for (int i = 0; i < n; i++)
            {
                double sum = x[i, c];
                for (int k = 0; k < i; k++) sum -= a[i, k] * x[k, c];
                x[i, c] = sum / a[i, i];
            }
        return Matrix<double>.Build.DenseOfArray(x);
    }

    private static Matrix<double> SolveUpperDirect(Matrix<double> u, Matrix<double> b)
    {
        int n = u.RowCount, m = b.ColumnCount;
        var a = u.ToArray();
        var x = b.ToArray();
        for (int c = 0; c < m; c++)
            for (int i = n - 1; i >= 0; i--)
            {
                double sum = x[i, c];
                for (int k = i + 1; k < n; k++) sum -= a[i, k] * x[k, c];
                x[i, c] = sum / a[i, i];
            }
        return Matrix<double>.Build.DenseOfArray(x);
    }

    private static void RequireSolvable(DoubleMatrix triangle, DoubleMatrix rightHandSide, string side)
    {
        triangle.RequireSquare("a triangular solve");
        if (rightHandSide.Rows != triangle.Rows)
            throw new ArgumentException(
                $"cannot solve a {triangle.Shape} {side}-triangular system for a {rightHandSide.Shape} right-hand side: row counts differ");
        RequireNonSingular(triangle, side);
    }

    private static void RequireNonSingular(DoubleMatrix triangle, string side)
    {
        for (int i = 0; i < triangle.Rows; i++)
        {
            double d = triangle[i, i];
            if (d == 0 || !double.IsFinite(d))
                throw new ArgumentException(
                    $"the {triangle.Shape} {side}-triangular matrix is singular: diagonal entry {i} is {d}");
        }
    }
}
