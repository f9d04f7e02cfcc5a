namespace OnnxQuant.Runtime.Calibration.Statistics;

/// <summary>
/// Which part of a calibration run a statistics file holds (<c>calibrate --shard INDEX/COUNT</c>): of the
/// <paramref name="TotalSamples"/> samples the whole run would use, in batches of <paramref name="BatchSize"/>, this
/// shard observed <paramref name="Batches"/> batches from batch <paramref name="FirstBatch"/> on. Shards split the data
/// at batch boundaries, so every batch is the same as in one run; <c>merge-stats</c> checks that the shards it is given
/// are all of one run and cover it exactly once.
/// </summary>
public sealed record CalibrationShard(int Index, int Count, long TotalSamples, int BatchSize, long FirstBatch, long Batches)
{
    /// <summary>"2/4".</summary>
    public override string ToString() => $"{Index}/{Count}";
}
