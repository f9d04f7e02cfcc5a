namespace OnnxQuant.Passes.Numerics;

/// <summary>
/// QuaRot's seeded randomized Hadamard rotation Q = diag(s)·H_n/√n with s a seeded ±1 vector (ALGORITHMS.md §3.3):
/// orthogonal, spreads outlier channels over all channels, and applies to activations in O(n log n) per row:
/// x·Q = ((x ∘ s)·H)/√n. Deterministic for a seed.
/// </summary>
public sealed class RandomizedHadamard
{
    private readonly sbyte[] _signs;
    private readonly HadamardTransform _transform;

    public int Order => _transform.Order;

    public ReadOnlySpan<sbyte> Signs => _signs;

    private RandomizedHadamard(sbyte[] signs, HadamardTransform transform)
    {
        _signs = signs;
        _transform = transform;
    }

    /// <summary>Q of order <paramref name="order"/>; refuses orders <see cref="Hadamard"/> cannot build.</summary>
    public static RandomizedHadamard Create(int order, int seed)
    {
        var transform = HadamardTransform.ForOrder(order);
        return new RandomizedHadamard(SeededRandom.Signs(order, seed), transform);
    }

    /// <summary>Q = diag(s)·H/√n as a dense matrix (for folding into weights).</summary>
    public DoubleMatrix ToMatrix()
    {
        var h = Hadamard.ForOrder(Order);
        double scale = 1 / Math.Sqrt(Order);
        return DoubleMatrix.FromFunction(Order, Order, (i, j) => _signs[i] * h[i, j] * scale);
    }

    /// <summary>Each row x of the row-major [rows, n] buffer becomes x·Q, in place.</summary>
    public void ApplyToRows(Span<double> rows)
    {
        FlipSigns(rows);
        // (x ∘ s)·H as a row is Hᵀ·(s ∘ x) as a column: the transposed transform.
        _transform.Apply(rows, normalized: true, transposed: true);
    }

    /// <summary>Each row x of the row-major [rows, n] buffer becomes x·Q, in place.</summary>
    public void ApplyToRows(Span<float> rows)
    {
        FlipSigns(rows);
        _transform.Apply(rows, normalized: true, transposed: true);
    }

    private void FlipSigns<T>(Span<T> rows) where T : struct, System.Numerics.IFloatingPointIeee754<T>
    {
        int n = Order;
        if (rows.Length % n != 0)
            throw new ArgumentException($"a buffer of {rows.Length} values is not a whole number of rows of {n}");
        for (int start = 0; start < rows.Length; start += n)
            for (int j = 0; j < n; j++)
                if (_signs[j] < 0) rows[start + j] = -rows[start + j];
    }
}
