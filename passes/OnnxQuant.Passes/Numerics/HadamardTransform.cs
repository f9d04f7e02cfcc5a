using System.Numerics;

namespace OnnxQuant.Passes.Numerics;

/// <summary>
/// y = H·x (or Hᵀ·x) on each row of a row-major [rows, n] buffer, in place, for the Hadamard matrix
/// H = H_K ⊗ H_{2^m} of <see cref="Hadamard.ForOrder"/>: a fast Walsh–Hadamard transform on each of the K contiguous
/// segments of length 2^m, then the K×K matrix across segments (K·n additions per row). With row vectors this is
/// X·Hᵀ (or X·H with <c>transposed</c>), the online half of a rotation. Normalized divides by √n.
/// Costs O(n·(log₂n + K)) per row against O(n²) for the dense product.
/// </summary>
public sealed class HadamardTransform
{
    private readonly HadamardMatrix _base;

    public int Order { get; }

    public int BaseOrder => _base.Order;

    public int PowerOfTwo => Order / BaseOrder;

    private HadamardTransform(int order, HadamardMatrix baseMatrix)
    {
        Order = order;
        _base = baseMatrix;
    }

    /// <summary>The transform of order <paramref name="order"/>; refuses orders <see cref="Hadamard"/> cannot build.</summary>
    public static HadamardTransform ForOrder(int order)
    {
        var (baseOrder, _) = Hadamard.Decompose(order);
        return new HadamardTransform(order, Hadamard.BaseMatrix(baseOrder));
    }

    public void Apply(Span<double> rows, bool normalized, bool transposed = false) => ApplyRows(rows, normalized, transposed);

    public void Apply(Span<float> rows, bool normalized, bool transposed = false) => ApplyRows(rows, normalized, transposed);

    private void ApplyRows<T>(Span<T> rows, bool normalized, bool transposed) where T : struct, IFloatingPointIeee754<T>
    {
        int n = Order, k = BaseOrder, p = PowerOfTwo;
        if (rows.Length % n != 0)
            throw new ArgumentException($"a buffer of {rows.Length} values is not a whole number of rows of {n}");
        T scale = T.CreateChecked(1 / Math.Sqrt(n));
        var mixed = k == 1 ? [] : new T[n];
        for (int start = 0; start < rows.Length; start += n)
        {
            var row = rows.Slice(start, n);
            for (int segment = 0; segment < k; segment++) WalshHadamardTransform.Butterflies(row.Slice(segment * p, p));
            if (k > 1)
            {
                MixSegments(row, mixed, transposed);
                mixed.CopyTo(row);
            }
            if (normalized) WalshHadamardTransform.Scale(row, scale);
        }
    }

    // mixed[i·p + r] = Σ_j H_K[i, j]·row[j·p + r] (H_K[j, i] when transposed): signed sums of whole segments.
    private void MixSegments<T>(ReadOnlySpan<T> row, Span<T> mixed, bool transposed) where T : struct, IFloatingPointIeee754<T>
    {
        int k = BaseOrder, p = PowerOfTwo;
        for (int i = 0; i < k; i++)
        {
            var target = mixed.Slice(i * p, p);
            target.Clear();
            for (int j = 0; j < k; j++)
            {
                bool subtract = (transposed ? _base[j, i] : _base[i, j]) < 0;
                AddOrSubtract(target, row.Slice(j * p, p), subtract);
            }
        }
    }

    private static void AddOrSubtract<T>(Span<T> target, ReadOnlySpan<T> source, bool subtract) where T : struct, IFloatingPointIeee754<T>
    {
        int r = 0;
        if (Vector.IsHardwareAccelerated)
            for (; r <= target.Length - Vector<T>.Count; r += Vector<T>.Count)
            {
                var t = new Vector<T>(target.Slice(r));
                var s = new Vector<T>(source.Slice(r));
                (subtract ? t - s : t + s).CopyTo(target.Slice(r));
            }
        for (; r < target.Length; r++) target[r] = subtract ? target[r] - source[r] : target[r] + source[r];
    }
}
