using OnnxQuant.Passes.Numerics;

namespace OnnxQuant.Tests.Numerics;

/// <summary>Seeded test matrices: SPD, well-conditioned triangular, and plain random.</summary>
internal static class RandomMatrices
{
    public static DoubleMatrix Uniform(int rows, int columns, int seed)
    {
        var random = new Random(seed);
        return DoubleMatrix.FromFunction(rows, columns, (_, _) => 2 * random.NextDouble() - 1);
    }

    /// <summary>G·Gᵀ/n + δ·I: symmetric positive definite, like a damped GPTQ Hessian (XᵀX plus damping).</summary>
    public static DoubleMatrix SymmetricPositiveDefinite(int order, int seed, double damping = 0.01)
    {
        var g = Uniform(order, order + 3, seed);
        return g.MultiplyByTransposeOf(g).Scale(1.0 / order).AddToDiagonal(damping);
    }

    /// <summary>Lower-triangular with diagonal in [1, 2] and off-diagonal entries of size 1/n: condition number O(1).</summary>
    public static DoubleMatrix WellConditionedLower(int order, int seed)
    {
        var random = new Random(seed);
        return DoubleMatrix.FromFunction(order, order, (i, j) =>
            i == j ? 1 + random.NextDouble() : i > j ? (2 * random.NextDouble() - 1) / order : 0);
    }

    public static double RelativeError(DoubleMatrix actual, DoubleMatrix expected) =>
        actual.MaxAbsDifference(expected) / Math.Max(expected.MaxAbs(), double.Epsilon);
}
