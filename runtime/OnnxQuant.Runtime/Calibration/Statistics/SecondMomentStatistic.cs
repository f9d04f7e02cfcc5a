using System.Buffers;
using System.Numerics.Tensors;

namespace OnnxQuant.Runtime.Calibration.Statistics;

/// <summary>
/// Σ xxᵀ over the rows x of a linear layer's input (the last axis is K, every other axis counts rows), accumulated
/// in double: what GPTQ's Hessian H = (2/n)·Σ xxᵀ needs (ALGORITHMS.md §4). Only the upper triangle is stored
/// (packed row by row), since the matrix is symmetric.
/// </summary>
/// <remarks>Merging adds the sums: equal to one run up to double rounding (the additions happen in another order).</remarks>
public sealed class SecondMomentStatistic
{
    private readonly double[] _upper;

    public SecondMomentStatistic(int k)
    {
        if (k <= 0 || k > 65536) throw new ArgumentOutOfRangeException(nameof(k), k, "K must be between 1 and 65536.");
        K = k;
        _upper = new double[(long)k * (k + 1) / 2];
    }

    public int K { get; }

    /// <summary>Rows accumulated (n).</summary>
    public long Rows { get; private set; }

    /// <summary>The packed upper triangle: row i holds columns i..K−1.</summary>
    public ReadOnlySpan<double> Upper => _upper;

    public double this[int i, int j] => i <= j ? _upper[RowStart(i) + (j - i)] : _upper[RowStart(j) + (i - j)];

    /// <summary>Adds the rows of <paramref name="values"/> (length a multiple of K).</summary>
    /// <remarks>
    /// Rows go in tiles of <see cref="PackedRankKUpdate.TileRows"/> through a blocked rank-k update, bit-identical to
    /// adding them one at a time (<see cref="AddRows"/>, still used for a tile with a NaN or infinity).
    /// </remarks>
    public void Add(ReadOnlySpan<float> values)
    {
        if (values.Length % K != 0)
            throw new ArgumentException($"{values.Length} values do not form rows of K = {K}.", nameof(values));
        int rows = values.Length / K;
        int tileRows = Math.Min(rows, PackedRankKUpdate.TileRows);
        double[] tile = tileRows == 0 ? [] : ArrayPool<double>.Shared.Rent(tileRows * K);
        try
        {
            for (int first = 0; first < rows; first += tileRows)
            {
                int count = Math.Min(tileRows, rows - first);
                var x = tile.AsSpan(0, count * K);
                TensorPrimitives.ConvertChecked<float, double>(values.Slice(first * K, count * K), x);
                if (PackedRankKUpdate.HasOnlyFiniteValues(x)) PackedRankKUpdate.Add(_upper, K, x, count);
                else AddRows(x, count);
            }
        }
        finally
        {
            if (tile.Length > 0) ArrayPool<double>.Shared.Return(tile);
        }
        Rows += rows;
    }

    // Rank-1 updates, row by row; x_i = 0 is skipped, so 0·∞ adds nothing.
    private void AddRows(ReadOnlySpan<double> x, int rows)
    {
        for (int r = 0; r < rows; r++)
        {
            var row = x.Slice(r * K, K);
            for (int i = 0; i < K; i++)
            {
                double xi = row[i];
                if (xi == 0) continue;
                var target = _upper.AsSpan((int)RowStart(i), K - i);
                TensorPrimitives.MultiplyAdd(row[i..], xi, target, target);
            }
        }
    }

    public void Merge(SecondMomentStatistic other)
    {
        if (other.K != K) throw new ArgumentException($"Cannot merge Σxxᵀ of K = {other.K} into K = {K}.", nameof(other));
        TensorPrimitives.Add(_upper, other._upper, _upper);
        Rows += other.Rows;
    }

    /// <summary>The full symmetric K×K matrix Σ xxᵀ, row-major.</summary>
    public double[] ToMatrix()
    {
        var m = new double[(long)K * K];
        for (int i = 0; i < K; i++)
        {
            long start = RowStart(i);
            for (int j = i; j < K; j++)
            {
                double v = _upper[start + j - i];
                m[(long)i * K + j] = v;
                m[(long)j * K + i] = v;
            }
        }
        return m;
    }

    public SecondMomentStatistic Clone()
    {
        var c = new SecondMomentStatistic(K);
        c.Merge(this);
        return c;
    }

    internal static SecondMomentStatistic Restore(int k, long rows, IReadOnlyList<double> upper)
    {
        var s = new SecondMomentStatistic(k);
        if (upper.Count != s._upper.Length) throw new FormatException($"expected {s._upper.Length} values for K = {k}, found {upper.Count}");
        if (rows < 0) throw new FormatException("rows is negative");
        for (int i = 0; i < upper.Count; i++) s._upper[i] = upper[i];
        s.Rows = rows;
        return s;
    }

    private long RowStart(int i) => (long)i * K - (long)i * (i - 1) / 2;
}
