using MathNet.Numerics.LinearAlgebra;

namespace OnnxQuant.Passes.Numerics;

/// <summary>
/// A dense double-precision matrix: the one matrix type passes use for Hessians, rotations and weight updates.
/// Backed by MathNet.Numerics (managed provider) so products and factorizations use its blocked, parallel kernels;
/// passes never see the library's types, so it can be swapped without touching them. Row-major copies in and out
/// (<see cref="FromRowMajor(int, int, ReadOnlySpan{double})"/>, <see cref="ToRowMajor"/>) match how ONNX stores weights.
/// </summary>
public sealed class DoubleMatrix
{
    internal Matrix<double> Inner { get; }

    internal DoubleMatrix(Matrix<double> inner) => Inner = inner;

    public int Rows => Inner.RowCount;

    public int Columns => Inner.ColumnCount;

    public bool IsSquare => Rows == Columns;

    public double this[int row, int column]
    {
        get => Inner[row, column];
        set => Inner[row, column] = value;
    }

    public static DoubleMatrix Zeros(int rows, int columns)
    {
        RequirePositiveShape(rows, columns);
        return new(Matrix<double>.Build.Dense(rows, columns));
    }

    public static DoubleMatrix Identity(int order)
    {
        RequirePositiveShape(order, order);
        return new(Matrix<double>.Build.DenseIdentity(order));
    }

    public static DoubleMatrix Diagonal(ReadOnlySpan<double> diagonal)
    {
        RequirePositiveShape(diagonal.Length, diagonal.Length);
        return new(Matrix<double>.Build.DenseOfDiagonalArray(diagonal.ToArray()));
    }

    public static DoubleMatrix FromFunction(int rows, int columns, Func<int, int, double> entry)
    {
        RequirePositiveShape(rows, columns);
        return new(Matrix<double>.Build.Dense(rows, columns, entry));
    }

    /// <summary>Copies <paramref name="values"/> (row-major, <paramref name="rows"/>×<paramref name="columns"/>).</summary>
    public static DoubleMatrix FromRowMajor(int rows, int columns, ReadOnlySpan<double> values)
    {
        RequireLength(rows, columns, values.Length);
        var columnMajor = new double[values.Length];
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < columns; j++)
                columnMajor[j * rows + i] = values[i * columns + j];
        return new(Matrix<double>.Build.Dense(rows, columns, columnMajor));
    }

    /// <summary>Copies float32 <paramref name="values"/> (row-major), widening each to double exactly.</summary>
    public static DoubleMatrix FromRowMajor(int rows, int columns, ReadOnlySpan<float> values)
    {
        var widened = new double[values.Length];
        for (int i = 0; i < values.Length; i++) widened[i] = values[i];
        return FromRowMajor(rows, columns, widened);
    }

    public double[] ToRowMajor()
    {
        var columnMajor = ColumnMajor();
        int rows = Rows, columns = Columns;
        var rowMajor = new double[rows * columns];
        for (int j = 0; j < columns; j++)
            for (int i = 0; i < rows; i++)
                rowMajor[i * columns + j] = columnMajor[j * rows + i];
        return rowMajor;
    }

    /// <summary>Row-major float32 copy (each entry rounded to nearest), the form ONNX weights are written in.</summary>
    public float[] ToRowMajorSingle()
    {
        var columnMajor = ColumnMajor();
        int rows = Rows, columns = Columns;
        var rowMajor = new float[rows * columns];
        for (int j = 0; j < columns; j++)
            for (int i = 0; i < rows; i++)
                rowMajor[i * columns + j] = (float)columnMajor[j * rows + i];
        return rowMajor;
    }

    public double[] Row(int row) => Inner.Row(row).ToArray();

    public double[] Column(int column) => Inner.Column(column).ToArray();

    public double[] DiagonalEntries() => Inner.Diagonal().ToArray();

    public DoubleMatrix Clone() => new(Inner.Clone());

    public DoubleMatrix Transpose() => new(Inner.Transpose());

    public DoubleMatrix Multiply(DoubleMatrix right)
    {
        if (Columns != right.Rows)
            throw new ArgumentException($"cannot multiply a {Shape} matrix by a {right.Shape} matrix: inner sizes differ");
        return new(Inner.Multiply(right.Inner));
    }

    /// <summary>this·rightᵀ without forming the transpose.</summary>
    public DoubleMatrix MultiplyByTransposeOf(DoubleMatrix right)
    {
        if (Columns != right.Columns)
            throw new ArgumentException($"cannot multiply a {Shape} matrix by the transpose of a {right.Shape} matrix");
        return new(Inner.TransposeAndMultiply(right.Inner));
    }

    /// <summary>thisᵀ·right without forming the transpose (e.g. XᵀX).</summary>
    public DoubleMatrix TransposeThenMultiply(DoubleMatrix right)
    {
        if (Rows != right.Rows)
            throw new ArgumentException($"cannot multiply the transpose of a {Shape} matrix by a {right.Shape} matrix");
        return new(Inner.TransposeThisAndMultiply(right.Inner));
    }

    public DoubleMatrix Add(DoubleMatrix other)
    {
        RequireSameShape(other, "add");
        return new(Inner.Add(other.Inner));
    }

    public DoubleMatrix Subtract(DoubleMatrix other)
    {
        RequireSameShape(other, "subtract");
        return new(Inner.Subtract(other.Inner));
    }

    public DoubleMatrix Scale(double factor) => new(Inner.Multiply(factor));

    /// <summary>A copy with <paramref name="value"/> added to every diagonal entry (damping).</summary>
    public DoubleMatrix AddToDiagonal(double value)
    {
        var copy = Inner.Clone();
        for (int i = 0; i < Math.Min(Rows, Columns); i++) copy[i, i] += value;
        return new(copy);
    }

    /// <summary>max |this − other| over all entries.</summary>
    public double MaxAbsDifference(DoubleMatrix other)
    {
        RequireSameShape(other, "compare");
        var a = ColumnMajor();
        var b = other.ColumnMajor();
        double max = 0;
        for (int k = 0; k < a.Length; k++) max = Math.Max(max, Math.Abs(a[k] - b[k]));
        return max;
    }

    public double MaxAbs()
    {
        double max = 0;
        foreach (var v in ColumnMajor()) max = Math.Max(max, Math.Abs(v));
        return max;
    }

    public double FrobeniusNorm() => Inner.FrobeniusNorm();

    public string Shape => $"{Rows}×{Columns}";

    public override string ToString() => $"DoubleMatrix {Shape}";

    // Dense storage gives its column-major array directly; anything else (never built here, but cheap to allow) is copied.
    internal double[] ColumnMajor() => Inner.AsColumnMajorArray() ?? Inner.ToColumnMajorArray();

    internal static void RequirePositiveShape(int rows, int columns)
    {
        if (rows <= 0 || columns <= 0)
            throw new ArgumentException($"a matrix needs at least one row and one column, got {rows}×{columns}");
    }

    private static void RequireLength(int rows, int columns, int length)
    {
        RequirePositiveShape(rows, columns);
        if ((long)rows * columns != length)
            throw new ArgumentException($"{length} values cannot fill a {rows}×{columns} matrix ({(long)rows * columns} needed)");
    }

    private void RequireSameShape(DoubleMatrix other, string verb)
    {
        if (Rows != other.Rows || Columns != other.Columns)
            throw new ArgumentException($"cannot {verb} a {Shape} matrix and a {other.Shape} matrix: shapes differ");
    }

    internal void RequireSquare(string what)
    {
        if (!IsSquare) throw new ArgumentException($"{what} needs a square matrix, got {Shape}");
    }
}
