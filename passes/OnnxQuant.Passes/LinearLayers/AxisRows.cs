namespace OnnxQuant.Passes.LinearLayers;

/// <summary>
/// A tensor read as rows along one axis: dims split as [batch…, outer…, axis, inner…] and laid out as rows
/// [batch · channels, outer · inner], one row per (batch, index along the axis). The one place that turns a weight's
/// stored layout into "one row per output channel" and back (a MatMul's [K, N] to [N, K], a ConvTranspose's
/// [C, M, kh, kw] to [M, C·kh·kw]); an axis of −1 reads the whole tensor as one row (per-tensor quantization).
/// </summary>
public readonly record struct AxisRows(long Batch, long Outer, long Channels, long Inner)
{
    /// <summary>Rows along <paramref name="axis"/> of <paramref name="dims"/>; the first <paramref name="batchDims"/> dims
    /// stay outermost (a batched MatMul's [G, K, N] along axis 2 gives G·N rows of K).</summary>
    public static AxisRows Of(IReadOnlyList<long> dims, int axis, int batchDims = 0)
    {
        long Product(int from, int to)
        {
            long p = 1;
            for (int d = from; d < to; d++) p *= dims[d];
            return p;
        }
        if (axis < 0) return new AxisRows(1, 1, 1, Product(0, dims.Count));
        if (axis < batchDims || axis >= dims.Count)
            throw new ArgumentOutOfRangeException(nameof(axis), axis, $"axis must lie in [{batchDims}, {dims.Count}).");
        return new AxisRows(Product(0, batchDims), Product(batchDims, axis), dims[axis], Product(axis + 1, dims.Count));
    }

    public long RowCount => Batch * Channels;
    public long RowLength => Outer * Inner;

    /// <summary>The stored tensor as rows [RowCount, RowLength].</summary>
    public T[] ToRows<T>(ReadOnlySpan<T> stored) => Permute(stored, toRows: true);

    /// <summary>Rows [RowCount, RowLength] back in the stored layout.</summary>
    public T[] ToStored<T>(ReadOnlySpan<T> rows) => Permute(rows, toRows: false);

    private T[] Permute<T>(ReadOnlySpan<T> source, bool toRows)
    {
        long count = Batch * Outer * Channels * Inner;
        if (source.Length != count) throw new ArgumentException($"{source.Length} elements are not {Batch}×{Outer}×{Channels}×{Inner}.", nameof(source));
        var result = new T[count];
        if (Outer == 1 || Channels == 1)
        {
            // Moving the axis past nothing (or moving a length-1 axis) keeps the order.
            source.CopyTo(result);
            return result;
        }
        if (Inner == 1)
        {
            // A batch of [Outer, Channels] matrices transposed (a MatMul's [K, N]): in tiles, so that neither side is
            // walked with a stride of a whole row per element (the element loop below misses the cache on every write).
            long plane = Outer * Channels;
            for (long b = 0; b < Batch; b++)
                if (toRows) Transpose(source.Slice((int)(b * plane), (int)plane), result.AsSpan((int)(b * plane), (int)plane), (int)Outer, (int)Channels);
                else Transpose(source.Slice((int)(b * plane), (int)plane), result.AsSpan((int)(b * plane), (int)plane), (int)Channels, (int)Outer);
            return result;
        }
        long i = 0;
        for (long b = 0; b < Batch; b++)
            for (long o = 0; o < Outer; o++)
                for (long c = 0; c < Channels; c++)
                    for (long n = 0; n < Inner; n++, i++)
                    {
                        long row = (b * Channels + c) * Outer * Inner + o * Inner + n;
                        if (toRows) result[row] = source[(int)i];
                        else result[i] = source[(int)row];
                    }
        return result;
    }

    /// <summary>to[c, r] = from[r, c] for a row-major [rows, columns] matrix, in 32 × 32 tiles.</summary>
    private static void Transpose<T>(ReadOnlySpan<T> from, Span<T> to, int rows, int columns)
    {
        const int Tile = 32;
        for (int r0 = 0; r0 < rows; r0 += Tile)
        {
            int r1 = Math.Min(rows, r0 + Tile);
            for (int c0 = 0; c0 < columns; c0 += Tile)
            {
                int c1 = Math.Min(columns, c0 + Tile);
                for (int r = r0; r < r1; r++)
                {
                    var row = from.Slice(r * columns, columns);
                    for (int c = c0; c < c1; c++) to[c * rows + r] = row[c];
                }
            }
        }
    }
}
