namespace OnnxQuant.Passes.Numerics;

/// <summary>
/// A ±1 matrix H of order n with H·Hᵀ = n·I, stored row-major as signed bytes. Built as H_K ⊗ H_{2^m}
/// (<see cref="BaseOrder"/> K, <see cref="PowerOfTwo"/> 2^m, K = 1 for Sylvester's powers of two); entry
/// (i, j) = H_K[i / 2^m, j / 2^m]·H_{2^m}[i mod 2^m, j mod 2^m], the layout <see cref="HadamardTransform"/> uses.
/// </summary>
public sealed class HadamardMatrix
{
    private readonly sbyte[] _entries;

    public int Order { get; }

    /// <summary>K of H_K ⊗ H_{2^m}; 1 for a Sylvester (power-of-two) matrix.</summary>
    public int BaseOrder { get; }

    /// <summary>2^m of H_K ⊗ H_{2^m}.</summary>
    public int PowerOfTwo => Order / BaseOrder;

    internal HadamardMatrix(int order, int baseOrder, sbyte[] entries)
    {
        Order = order;
        BaseOrder = baseOrder;
        _entries = entries;
    }

    public sbyte this[int row, int column] => _entries[row * Order + column];

    /// <summary>The entries, row-major.</summary>
    public ReadOnlySpan<sbyte> Entries => _entries;

    /// <summary>H as a double matrix, divided by √n when <paramref name="normalized"/> (then orthogonal).</summary>
    public DoubleMatrix ToMatrix(bool normalized)
    {
        double scale = normalized ? 1 / Math.Sqrt(Order) : 1;
        var values = new double[_entries.Length];
        for (int k = 0; k < values.Length; k++) values[k] = _entries[k] * scale;
        return DoubleMatrix.FromRowMajor(Order, Order, values);
    }

    /// <summary>
    /// True when H·Hᵀ = n·I exactly. Integer arithmetic on rows packed as bits (1 for −1): the product of rows i
    /// and j is n − 2·popcount(rᵢ XOR rⱼ), so order 8192 takes seconds instead of the n³ multiply-adds.
    /// </summary>
    public bool IsHadamard()
    {
        int n = Order, words = (n + 63) / 64;
        var packed = new ulong[n * words];
        for (int i = 0; i < n; i++)
            for (int k = 0; k < n; k++)
            {
                sbyte v = _entries[i * n + k];
                if (v != 1 && v != -1) return false;
                if (v < 0) packed[i * words + k / 64] |= 1UL << (k % 64);
            }
        bool orthogonal = true;
        Parallel.For(0, n, (i, state) =>
        {
            var a = packed.AsSpan(i * words, words);
            for (int j = i + 1; j < n && orthogonal; j++)
            {
                var b = packed.AsSpan(j * words, words);
                long differing = 0;
                for (int w = 0; w < words; w++) differing += System.Numerics.BitOperations.PopCount(a[w] ^ b[w]);
                if (n - 2 * differing != 0)
                {
                    orthogonal = false;
                    state.Stop();
                }
            }
        });
        // The diagonal is Σ (±1)² = n for any ±1 matrix, so entries and off-diagonal products decide.
        return orthogonal;
    }

    /// <summary>this ⊗ other: entry (i·m + k, j·m + l) = this[i, j]·other[k, l], m = other's order.</summary>
    internal HadamardMatrix Kronecker(HadamardMatrix other, int baseOrder)
    {
        int n = Order, m = other.Order, order = n * m;
        var entries = new sbyte[order * order];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                sbyte a = this[i, j];
                for (int k = 0; k < m; k++)
                    for (int l = 0; l < m; l++)
                        entries[(i * m + k) * order + j * m + l] = (sbyte)(a * other[k, l]);
            }
        return new HadamardMatrix(order, baseOrder, entries);
    }
}
