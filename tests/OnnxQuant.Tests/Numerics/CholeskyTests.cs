using FsCheck.Xunit;
using OnnxQuant.Passes.Numerics;

namespace OnnxQuant.Tests.Numerics;

public class CholeskyTests
{
    private static int Order(byte size) => size % 150 + 1;

    [Property(MaxTest = 30, Replay = "(21,23)", QuietOnSuccess = true)]
    public void RandomSpdMatrices_ReconstructThroughTheLowerFactor(byte size, int seed)
    {
        var a = RandomMatrices.SymmetricPositiveDefinite(Order(size), seed);
        var l = Cholesky.Lower(a);
        for (int i = 0; i < l.Rows; i++)
        {
            Assert.True(l[i, i] > 0, $"diagonal {i} is {l[i, i]}");
            for (int j = i + 1; j < l.Columns; j++) Assert.Equal(0.0, l[i, j]);
        }
        Assert.True(RandomMatrices.RelativeError(l.MultiplyByTransposeOf(l), a) <= 1e-10);
    }

    [Fact]
    public void IndefiniteMatrix_IsRefusedWithADampingHint()
    {
        var a = DoubleMatrix.FromRowMajor(2, 2, [1.0, 2.0, 2.0, 1.0]);
        var e = Assert.Throws<ArgumentException>(() => Cholesky.Lower(a));
        Assert.Contains("not positive definite", e.Message);
        Assert.Contains("damping", e.Message);
    }

    [Fact]
    public void AsymmetricMatrix_IsRefusedNamingTheEntries()
    {
        var a = DoubleMatrix.FromRowMajor(2, 2, [2.0, 0.5, 0.0, 2.0]);
        var e = Assert.Throws<ArgumentException>(() => Cholesky.Lower(a));
        Assert.Contains("not symmetric", e.Message);
        Assert.Contains("(1,0)", e.Message);
    }

    [Fact]
    public void NonFiniteEntry_IsRefused()
    {
        var a = DoubleMatrix.FromRowMajor(2, 2, [double.NaN, 0.0, 0.0, 1.0]);
        Assert.Contains("non-finite", Assert.Throws<ArgumentException>(() => Cholesky.Lower(a)).Message);
    }
}
