using FsCheck.Xunit;
using OnnxQuant.Passes.Numerics;

namespace OnnxQuant.Tests.Numerics;

public class HadamardTransformTests
{
    private static readonly int[] Orders = [1, 2, 4, 8, 64, 256, 1024, 12, 24, 40, 80, 28, 36, 72, 52, 60, 108, 140, 192, 280];

    private static double MaxAbs(ReadOnlySpan<double> values)
    {
        double max = 0;
        foreach (var v in values) max = Math.Max(max, Math.Abs(v));
        return max;
    }

    [Property(MaxTest = 60, Replay = "(61,67)", QuietOnSuccess = true)]
    public void DoubleTransform_EqualsTheDenseProduct(byte which, byte rowCount, bool normalized, bool transposed, int seed)
    {
        int n = Orders[which % Orders.Length], rows = rowCount % 4 + 1;
        var x = RandomMatrices.Uniform(rows, n, seed);
        var h = Hadamard.ForOrder(n).ToMatrix(normalized);
        // Rows are vectors: y = H·x is X·Hᵀ, and y = Hᵀ·x is X·H.
        var expected = (transposed ? x.Multiply(h) : x.MultiplyByTransposeOf(h)).ToRowMajor();
        var actual = x.ToRowMajor();
        HadamardTransform.ForOrder(n).Apply(actual.AsSpan(), normalized, transposed);
        double scale = MaxAbs(expected);
        for (int k = 0; k < actual.Length; k++)
            Assert.True(Math.Abs(actual[k] - expected[k]) <= 1e-12 * scale, $"order {n}, index {k}: {actual[k]} vs {expected[k]}");
    }

    [Property(MaxTest = 40, Replay = "(71,73)", QuietOnSuccess = true)]
    public void FloatTransform_EqualsTheDenseProductInDouble(byte which, bool normalized, int seed)
    {
        int n = Orders[which % Orders.Length];
        var x = RandomMatrices.Uniform(2, n, seed);
        var expected = x.MultiplyByTransposeOf(Hadamard.ForOrder(n).ToMatrix(normalized)).ToRowMajor();
        var actual = x.ToRowMajorSingle();
        HadamardTransform.ForOrder(n).Apply(actual.AsSpan(), normalized);
        double scale = MaxAbs(expected);
        for (int k = 0; k < actual.Length; k++)
            Assert.True(Math.Abs(actual[k] - expected[k]) <= 1e-5 * scale, $"order {n}, index {k}: {actual[k]} vs {expected[k]}");
    }

    [Theory]
    [InlineData(8)]
    [InlineData(8192)]
    public void WalshHadamard_PowerOfTwo_MatchesTheGeneralTransformAndIsItsOwnInverse(int n)
    {
        var original = RandomMatrices.Uniform(3, n, n).ToRowMajor();
        var fast = (double[])original.Clone();
        WalshHadamardTransform.Apply(fast, n, normalized: true);
        var general = (double[])original.Clone();
        HadamardTransform.ForOrder(n).Apply(general.AsSpan(), normalized: true);
        Assert.Equal(general, fast);
        Assert.NotEqual(original, fast);
        WalshHadamardTransform.Apply(fast, n, normalized: true);
        for (int k = 0; k < original.Length; k++) Assert.Equal(original[k], fast[k], 1e-13);
    }

    [Fact]
    public void Unnormalized_IntegerInput_GivesExactIntegerSums()
    {
        float[] x = [1, 2, 3, 4];
        WalshHadamardTransform.Apply(x, 4, normalized: false);
        Assert.Equal([10f, -2f, -4f, 0f], x); // rows of H_4: ++++, +-+-, ++--, +--+
    }

    [Fact]
    public void BadLengths_AreRefused()
    {
        var e = Assert.Throws<ArgumentException>(() => WalshHadamardTransform.Apply(new double[12], 12, normalized: false));
        Assert.Contains("power-of-two", e.Message);
        var rows = Assert.Throws<ArgumentException>(() => WalshHadamardTransform.Apply(new float[10], 4, normalized: false));
        Assert.Contains("whole number of rows", rows.Message);
        Assert.Throws<ArgumentException>(() => HadamardTransform.ForOrder(24).Apply(new double[30], normalized: false));
        Assert.Contains("order 44", Assert.Throws<ArgumentException>(() => HadamardTransform.ForOrder(44)).Message);
    }
}
