using FsCheck.Xunit;
using OnnxQuant.Passes.Numerics;

namespace OnnxQuant.Tests.Numerics;

public class TriangularMatrixTests
{
    private static int Order(byte size) => size % 200 + 1;

    [Property(MaxTest = 25, Replay = "(41,43)", QuietOnSuccess = true)]
    public void Inverses_MultiplyToTheIdentity(byte size, int seed)
    {
        int n = Order(size);
        var l = RandomMatrices.WellConditionedLower(n, seed);
        var identity = DoubleMatrix.Identity(n);
        var lInverse = TriangularMatrix.InverseLower(l);
        Assert.True(l.Multiply(lInverse).MaxAbsDifference(identity) <= 1e-12);
        Assert.True(lInverse.Multiply(l).MaxAbsDifference(identity) <= 1e-12);
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++) Assert.Equal(0.0, lInverse[i, j]);

        var u = l.Transpose();
        var uInverse = TriangularMatrix.InverseUpper(u);
        Assert.True(u.Multiply(uInverse).MaxAbsDifference(identity) <= 1e-12);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < i; j++) Assert.Equal(0.0, uInverse[i, j]);
    }

    [Property(MaxTest = 25, Replay = "(47,53)", QuietOnSuccess = true)]
    public void Solves_SatisfyTheirSystems(byte size, byte columns, int seed)
    {
        int n = Order(size), m = columns % 9 + 1;
        var l = RandomMatrices.WellConditionedLower(n, seed);
        var b = RandomMatrices.Uniform(n, m, seed + 1);
        var x = TriangularMatrix.SolveLower(l, b);
        Assert.True(l.Multiply(x).MaxAbsDifference(b) <= 1e-12);
        var u = l.Transpose();
        var y = TriangularMatrix.SolveUpper(u, b);
        Assert.True(u.Multiply(y).MaxAbsDifference(b) <= 1e-12);
    }

    [Fact]
    public void OnlyTheNamedTriangleIsRead()
    {
        var l = RandomMatrices.WellConditionedLower(100, 7);
        var withGarbageAbove = DoubleMatrix.FromFunction(100, 100, (i, j) => i >= j ? l[i, j] : 1e6 + i + j);
        Assert.Equal(0.0, TriangularMatrix.InverseLower(withGarbageAbove).MaxAbsDifference(TriangularMatrix.InverseLower(l)));
    }

    [Fact]
    public void ZeroDiagonal_IsRefusedNamingTheEntry()
    {
        var l = DoubleMatrix.FromRowMajor(3, 3, [1.0, 0, 0, 2, 0, 0, 3, 4, 5]);
        var e = Assert.Throws<ArgumentException>(() => TriangularMatrix.InverseLower(l));
        Assert.Contains("singular", e.Message);
        Assert.Contains("diagonal entry 1", e.Message);
        Assert.Throws<ArgumentException>(() => TriangularMatrix.SolveLower(l, DoubleMatrix.Zeros(2, 1)));
    }
}
