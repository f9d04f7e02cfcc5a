using FsCheck.Xunit;
using OnnxQuant.Passes.Numerics;

namespace OnnxQuant.Tests.Numerics;

public class DoubleMatrixTests
{
    [Property(MaxTest = 40, Replay = "(11,13)", QuietOnSuccess = true)]
    public void Multiply_MatchesTheDefinition(byte rows, byte inner, byte columns, int seed)
    {
        int m = rows % 20 + 1, k = inner % 20 + 1, n = columns % 20 + 1;
        var a = RandomMatrices.Uniform(m, k, seed);
        var b = RandomMatrices.Uniform(k, n, seed + 1);
        var product = a.Multiply(b);
        Assert.Equal(m, product.Rows);
        Assert.Equal(n, product.Columns);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double expected = 0;
                for (int t = 0; t < k; t++) expected += a[i, t] * b[t, j];
                Assert.Equal(expected, product[i, j], 1e-12);
            }
        Assert.True(a.MultiplyByTransposeOf(b.Transpose()).MaxAbsDifference(product) <= 1e-12);
        Assert.True(a.Transpose().TransposeThenMultiply(b).MaxAbsDifference(product) <= 1e-12);
    }

    [Fact]
    public void RowMajorCopies_RoundTrip()
    {
        double[] values = [1, 2, 3, 4, 5, 6];
        var m = DoubleMatrix.FromRowMajor(2, 3, values);
        Assert.Equal(3.0, m[0, 2]);
        Assert.Equal(4.0, m[1, 0]);
        Assert.Equal(values, m.ToRowMajor());
        Assert.Equal([1f, 4f, 2f, 5f, 3f, 6f], m.Transpose().ToRowMajorSingle());
        Assert.Equal(values, DoubleMatrix.FromRowMajor(2, 3, [1f, 2f, 3f, 4f, 5f, 6f]).ToRowMajor());
        Assert.Equal([2.0, 5.0], m.Column(1));
        Assert.Equal([4.0, 5.0, 6.0], m.Row(1));
    }

    [Fact]
    public void AddToDiagonal_LeavesTheOriginalUnchanged()
    {
        var m = DoubleMatrix.Identity(3);
        var damped = m.AddToDiagonal(0.5);
        Assert.Equal([1.5, 1.5, 1.5], damped.DiagonalEntries());
        Assert.Equal([1.0, 1.0, 1.0], m.DiagonalEntries());
    }

    [Fact]
    public void MismatchedShapes_AreRefusedWithBothShapes()
    {
        var a = DoubleMatrix.Zeros(2, 3);
        var e = Assert.Throws<ArgumentException>(() => a.Multiply(DoubleMatrix.Zeros(2, 3)));
        Assert.Contains("2×3", e.Message);
        Assert.Throws<ArgumentException>(() => a.Add(DoubleMatrix.Zeros(3, 2)));
        var wrongLength = Assert.Throws<ArgumentException>(() => DoubleMatrix.FromRowMajor(2, 2, new double[3]));
        Assert.Contains("3 values", wrongLength.Message);
    }
}
