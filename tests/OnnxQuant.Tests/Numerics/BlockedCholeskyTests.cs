using OnnxQuant.Passes.Numerics;

namespace OnnxQuant.Tests.Numerics;

/// <summary>
/// The blocked Cholesky factorization, triangular inverse and upper factor of the inverse (GPTQ's) against MathNet's
/// factorization and the explicit-inverse route, at orders below, at and across the 96-column blocks; the damping
/// path of a rank-deficient Hessian; refusals with a clear message.
/// </summary>
public class BlockedCholeskyTests
{
    public static TheoryData<int> Orders => new() { 1, 2, 7, 95, 96, 97, 200, 290 };

    [Theory]
    [MemberData(nameof(Orders))]
    public void Lower_EqualsMathNetsFactor(int n)
    {
        var a = RandomMatrices.SymmetricPositiveDefinite(n, n);
        var l = BlockedCholesky.Lower(a.ToRowMajor(), n);
        var reference = Cholesky.Lower(a);
        var actual = DoubleMatrix.FromRowMajor(n, n, l);
        for (int i = 0; i < n; i++)
        {
            Assert.True(l[i * n + i] > 0, $"diagonal {i} is {l[i * n + i]}");
            for (int j = i + 1; j < n; j++) Assert.Equal(0.0, l[i * n + j]);
        }
        Assert.True(RandomMatrices.RelativeError(actual, reference) <= 1e-10, $"relative error {RandomMatrices.RelativeError(actual, reference):G3}");
        Assert.True(RandomMatrices.RelativeError(actual.MultiplyByTransposeOf(actual), a) <= 1e-12);
    }

    [Theory]
    [MemberData(nameof(Orders))]
    public void InverseLower_EqualsTheRecursiveInverse(int n)
    {
        var l = RandomMatrices.WellConditionedLower(n, n + 1);
        var x = DoubleMatrix.FromRowMajor(n, n, BlockedCholesky.InverseLower(l.ToRowMajor(), n));
        Assert.True(RandomMatrices.RelativeError(x, TriangularMatrix.InverseLower(l)) <= 1e-12);
        Assert.True(l.Multiply(x).MaxAbsDifference(DoubleMatrix.Identity(n)) <= 1e-12);
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++) Assert.Equal(0.0, x[i, j]);
    }

    [Theory]
    [MemberData(nameof(Orders))]
    public void UpperOfInverse_IsTheUpperFactorOfTheInverse(int n)
    {
        var a = RandomMatrices.SymmetricPositiveDefinite(n, 3 * n, damping: 0.1);
        var input = a.ToRowMajor();
        var copy = (double[])input.Clone();
        var u = DoubleMatrix.FromRowMajor(n, n, BlockedCholesky.UpperOfInverse(input, n));
        Assert.Equal(copy, input);   // the argument is left alone
        for (int i = 0; i < n; i++)
        {
            Assert.True(u[i, i] > 0, $"diagonal {i} is {u[i, i]}");
            for (int j = 0; j < i; j++) Assert.Equal(0.0, u[i, j]);
        }
        Assert.True(u.TransposeThenMultiply(u).Multiply(a).MaxAbsDifference(DoubleMatrix.Identity(n)) <= 1e-9);
        // torch's route: the upper Cholesky factor of the explicit inverse.
        var lInverse = TriangularMatrix.InverseLower(Cholesky.Lower(a));
        var inverse = lInverse.TransposeThenMultiply(lInverse);
        var viaExplicitInverse = Cholesky.Lower(inverse.Add(inverse.Transpose()).Scale(0.5)).Transpose();
        Assert.True(RandomMatrices.RelativeError(u, viaExplicitInverse) <= 1e-9);
    }

    [Fact]
    public void UpperOfInverse_IsDeterministic()
    {
        const int n = 300;
        var a = RandomMatrices.SymmetricPositiveDefinite(n, 9).ToRowMajor();
        var first = BlockedCholesky.UpperOfInverse(a, n);
        var second = BlockedCholesky.UpperOfInverse(a, n);
        Assert.Equal(first.Select(BitConverter.DoubleToInt64Bits), second.Select(BitConverter.DoubleToInt64Bits));
    }

    [Fact]
    public void Overwriting_GivesTheSameBits()
    {
        const int n = 200;
        var a = RandomMatrices.SymmetricPositiveDefinite(n, 5).ToRowMajor();
        var kept = BlockedCholesky.UpperOfInverse(a, n);
        var overwritten = BlockedCholesky.UpperOfInverseOverwriting((double[])a.Clone(), n);
        Assert.Equal(kept.Select(BitConverter.DoubleToInt64Bits), overwritten.Select(BitConverter.DoubleToInt64Bits));
    }

    /// <summary>XᵀX of fewer samples than inputs is singular: refused as is, factored once GPTQ's damping is added.</summary>
    [Fact]
    public void RankDeficientHessian_NeedsDamping()
    {
        const int n = 150, samples = 40;
        var x = RandomMatrices.Uniform(samples, n, 4);
        var h = x.TransposeThenMultiply(x);
        h = h.Add(h.Transpose()).Scale(0.5);
        // Exactly singular as well: input 3 never fires.
        var values = h.ToRowMajor();
        for (int i = 0; i < n; i++) values[3 * n + i] = values[i * n + 3] = 0;
        var e = Assert.Throws<ArgumentException>(() => BlockedCholesky.UpperOfInverse(values, n));
        Assert.Contains("not positive definite", e.Message);
        Assert.Contains("damping", e.Message);
        double meanDiagonal = Enumerable.Range(0, n).Average(i => values[i * n + i]);
        for (int i = 0; i < n; i++) values[i * n + i] += 0.01 * meanDiagonal;
        var damped = DoubleMatrix.FromRowMajor(n, n, values);
        var u = DoubleMatrix.FromRowMajor(n, n, BlockedCholesky.UpperOfInverse(values, n));
        Assert.True(u.TransposeThenMultiply(u).Multiply(damped).MaxAbsDifference(DoubleMatrix.Identity(n)) <= 1e-8);
    }

    [Fact]
    public void IndefiniteMatrix_IsRefusedNamingTheColumn()
    {
        // Positive definite except for one negative eigenvalue direction along the last input.
        const int n = 130;
        var a = RandomMatrices.SymmetricPositiveDefinite(n, 2).ToRowMajor();
        a[(n - 1) * n + n - 1] = -1;
        var e = Assert.Throws<ArgumentException>(() => BlockedCholesky.Lower(a, n));
        Assert.Contains("not positive definite", e.Message);
        Assert.Contains($"column {n - 1}", e.Message);
        // UpperOfInverse factors the reversed matrix; the message still names the original column.
        Assert.Contains($"column {n - 1}", Assert.Throws<ArgumentException>(() => BlockedCholesky.UpperOfInverse(a, n)).Message);
    }

    [Fact]
    public void AsymmetricOrNonFiniteOrWrongSize_IsRefused()
    {
        Assert.Contains("not symmetric", Assert.Throws<ArgumentException>(() => BlockedCholesky.Lower([2.0, 0.5, 0.0, 2.0], 2)).Message);
        Assert.Contains("non-finite", Assert.Throws<ArgumentException>(() => BlockedCholesky.UpperOfInverse([double.NaN, 0, 0, 1], 2)).Message);
        Assert.Contains("not a square matrix", Assert.Throws<ArgumentException>(() => BlockedCholesky.Lower([1.0, 0, 0], 2)).Message);
        Assert.Contains("singular", Assert.Throws<ArgumentException>(() => BlockedCholesky.InverseLower([1.0, 0, 5, 0], 2)).Message);
    }
}
