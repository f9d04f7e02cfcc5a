using System.Globalization;
using OnnxQuant.Ir;

namespace OnnxQuant.Runtime.DataSources;

/// <summary>
/// One part of the calibration data for calibration on many machines: shard <see cref="Index"/> of
/// <see cref="Count"/> (1-based, as <c>--shard 2/4</c>). The selected samples (after skip, count and shuffle) are cut
/// into batches first and the batches are split contiguously — shard k takes batches ⌊(k−1)·B/n⌋ … ⌊k·B/n⌋ − 1 of
/// B — so each batch is the same as in one run and the merged statistics equal one run's (see <c>merge-stats</c>).
/// </summary>
public sealed record DataShard(int Index, int Count)
{
    /// <summary>Reads "INDEX/COUNT" (1 ≤ INDEX ≤ COUNT).</summary>
    public static DataShard Parse(string text)
    {
        var parts = text.Split('/');
        if (parts.Length == 2
            && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int index)
            && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int count)
            && count >= 1 && index >= 1 && index <= count)
            return new DataShard(index, count);
        throw new OnnxQuantException($"--shard {text}: expected INDEX/COUNT with 1 ≤ INDEX ≤ COUNT, e.g. --shard 1/4 … --shard 4/4.");
    }

    /// <summary>The batches [first, first + count) this shard takes of <paramref name="totalBatches"/>.</summary>
    public (long First, long Count) BatchRange(long totalBatches)
    {
        long first = (Index - 1) * totalBatches / Count, end = Index * totalBatches / Count;
        return (first, end - first);
    }

    public override string ToString() => $"{Index}/{Count}";
}
