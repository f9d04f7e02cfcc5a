using OnnxQuant.Passes.Numerics;

namespace OnnxQuant.Tests.Numerics;

public class RandomRotationTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(7)]
    [InlineData(64)]
    [InlineData(200)]
    public void RandomOrthogonal_SatisfiesQtQEqualsIdentity(int n)
    {
        var q = RandomOrthogonal.Create(n, seed: 42);
        Assert.True(q.TransposeThenMultiply(q).MaxAbsDifference(DoubleMatrix.Identity(n)) <= 1e-12);
        Assert.True(q.MultiplyByTransposeOf(q).MaxAbsDifference(DoubleMatrix.Identity(n)) <= 1e-12);
    }

    [Fact]
    public void RandomOrthogonal_IsDeterministicForASeedAndDiffersAcrossSeeds()
    {
        var a = RandomOrthogonal.Create(50, seed: 3).ToRowMajor();
        var b = RandomOrthogonal.Create(50, seed: 3).ToRowMajor();
        var c = RandomOrthogonal.Create(50, seed: 4).ToRowMajor();
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
    }

    [Fact]
    public void RandomOrthogonal_SignFix_MakesTheFirstColumnTheNormalizedFirstGaussianColumn()
    {
        // G = Q·R with R₀₀ > 0 means Q's first column is G's first column over its length.
        const int n = 30, seed = 9;
        var g = SeededRandom.Gaussian(n * n, seed);
        double length = Math.Sqrt(Enumerable.Range(0, n).Sum(i => g[i * n] * g[i * n]));
        var q = RandomOrthogonal.Create(n, seed);
        for (int i = 0; i < n; i++) Assert.Equal(g[i * n] / length, q[i, 0], 1e-12);
    }

    [Fact]
    public void Gaussian_HasUnitMomentsAndIsDeterministic()
    {
        var x = SeededRandom.Gaussian(200_001, seed: 5);
        double mean = x.Average(), variance = x.Select(v => (v - mean) * (v - mean)).Average();
        Assert.InRange(mean, -0.01, 0.01);
        Assert.InRange(variance, 0.98, 1.02);
        Assert.Equal(x, SeededRandom.Gaussian(200_001, seed: 5));
    }

    [Fact]
    public void Signs_AreBalancedPlusMinusOneAndDeterministic()
    {
        var s = SeededRandom.Signs(10_000, seed: 1);
        Assert.All(s, v => Assert.True(v is 1 or -1));
        Assert.InRange(s.Count(v => v == 1), 4_800, 5_200);
        Assert.Equal(s, SeededRandom.Signs(10_000, seed: 1));
        Assert.NotEqual(s, SeededRandom.Signs(10_000, seed: 2));
        var diagonal = SeededRandom.SignDiagonal(5, seed: 1);
        Assert.Equal(SeededRandom.Signs(5, seed: 1).Select(v => (double)v), diagonal.DiagonalEntries());
    }

    [Theory]
    [InlineData(64)]
    [InlineData(192)]
    public void RandomizedHadamard_IsOrthogonalAndAppliesAsTheDenseRotation(int n)
    {
        var rotation = RandomizedHadamard.Create(n, seed: 11);
        var q = rotation.ToMatrix();
        Assert.True(q.TransposeThenMultiply(q).MaxAbsDifference(DoubleMatrix.Identity(n)) <= 1e-12);
        var h = Hadamard.ForOrder(n);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) Assert.Equal(rotation.Signs[i] * h[i, j] / Math.Sqrt(n), q[i, j]);

        var x = RandomMatrices.Uniform(3, n, seed: 12);
        var expected = x.Multiply(q).ToRowMajor();
        var actual = x.ToRowMajor();
        rotation.ApplyToRows(actual.AsSpan());
        for (int k = 0; k < actual.Length; k++) Assert.Equal(expected[k], actual[k], 1e-12);
        var single = x.ToRowMajorSingle();
        rotation.ApplyToRows(single.AsSpan());
        for (int k = 0; k < single.Length; k++) Assert.Equal(expected[k], single[k], 1e-5);
        Assert.Equal(rotation.Signs.ToArray(), RandomizedHadamard.Create(n, seed: 11).Signs.ToArray());
    }

    [Fact]
    public void SymmetricEigen_DiagonalizesWithOrthogonalVectorsInAscendingOrder()
    {
        var a = RandomMatrices.SymmetricPositiveDefinite(40, seed: 8);
        var eigen = SymmetricEigen.Decompose(a);
        var v = eigen.Vectors;
        Assert.True(v.TransposeThenMultiply(v).MaxAbsDifference(DoubleMatrix.Identity(40)) <= 1e-12);
        Assert.True(RandomMatrices.RelativeError(a.Multiply(v), v.Multiply(DoubleMatrix.Diagonal(eigen.Values))) <= 1e-12);
        for (int k = 1; k < 40; k++) Assert.True(eigen.Values[k - 1] <= eigen.Values[k]);
        Assert.True(eigen.Values[0] > 0);
    }
}
