using OnnxQuant.Ir;

namespace OnnxQuant.Runtime.Calibration.Statistics;

/// <summary>
/// Joins the statistics files of <c>calibrate --shard 1/n … n/n</c> into the statistics of one run over all the data
/// (what <c>onnxquant merge-stats</c> does). The shards are merged in shard order whatever order they are given in,
/// after checking that they are the shards of one run — same data, sample count, batch size and tensors, every
/// shard present exactly once — so a missing, repeated or foreign file is an error, never a silently smaller set.
/// </summary>
/// <remarks>Ranges, histograms, counts and the exact sums merge bit for bit: the merged file equals one run's.
/// Σxxᵀ (GPTQ's second moments) is added in double in another order than one run's, equal up to rounding (a
/// relative 1e-12 or so). Files without a shard field (whole runs over different data) merge too, in the order
/// given, when none of the files is a shard.</remarks>
public static class ShardMerge
{
    public static CalibrationStatistics Merge(IReadOnlyList<(string Path, CalibrationStatistics Statistics)> files)
    {
        if (files.Count == 0) throw new OnnxQuantException("merge-stats: give the statistics files to merge.");
        var shards = files.Where(f => f.Statistics.Shard is not null).ToList();
        var whole = files.Where(f => f.Statistics.Shard is null).ToList();
        if (shards.Count > 0 && whole.Count > 0)
            throw new OnnxQuantException($"merge-stats: {whole[0].Path} is a whole calibration run but {shards[0].Path} is shard {shards[0].Statistics.Shard} of one; "
                + "merge the shards of one run together, then (if you mean to) that result with other whole runs.");
        var ordered = shards.Count > 0 ? CheckShards(shards) : files.ToList();
        CheckSameTensors(ordered);

        var merged = new CalibrationStatistics { Source = ordered[0].Statistics.Source };
        foreach (var (_, statistics) in ordered) merged.Merge(statistics);
        merged.Shard = null;
        return merged;
    }

    private static List<(string Path, CalibrationStatistics Statistics)> CheckShards(List<(string Path, CalibrationStatistics Statistics)> shards)
    {
        var (firstPath, first) = shards[0];
        var run = first.Shard!;
        foreach (var (path, s) in shards)
        {
            var shard = s.Shard!;
            string? differs = shard.Count != run.Count ? $"is shard {shard} but {firstPath} is shard {run} (a different number of shards)"
                : shard.TotalSamples != run.TotalSamples ? $"is a shard of a run over {shard.TotalSamples} samples, {firstPath} of one over {run.TotalSamples}"
                : shard.BatchSize != run.BatchSize ? $"was calibrated in batches of {shard.BatchSize}, {firstPath} in batches of {run.BatchSize}"
                : s.Source != first.Source ? $"comes from {s.Source ?? "(no source)"}, {firstPath} from {first.Source ?? "(no source)"}"
                : null;
            if (differs is not null)
                throw new OnnxQuantException($"merge-stats: {path} {differs}; all shards must come from one run (same data, --count, --skip, --batch-size and --shard n).");
        }
        var byIndex = new Dictionary<int, string>();
        foreach (var (path, s) in shards)
            if (!byIndex.TryAdd(s.Shard!.Index, path))
                throw new OnnxQuantException($"merge-stats: shard {s.Shard} is given twice ({byIndex[s.Shard.Index]} and {path}); give each shard once.");
        var missing = Enumerable.Range(1, run.Count).Where(i => !byIndex.ContainsKey(i)).ToList();
        if (missing.Count > 0)
            throw new OnnxQuantException($"merge-stats: shard{(missing.Count > 1 ? "s" : "")} {string.Join(", ", missing.Select(i => $"{i}/{run.Count}"))} "
                + $"{(missing.Count > 1 ? "are" : "is")} missing; give all {run.Count} shards of the run.");
        var ordered = shards.OrderBy(f => f.Statistics.Shard!.Index).ToList();
        long expected = 0;
        foreach (var (path, s) in ordered)
        {
            if (s.Shard!.FirstBatch != expected)
                throw new OnnxQuantException($"merge-stats: {path} (shard {s.Shard}) starts at batch {s.Shard.FirstBatch + 1}, not {expected + 1}; the file was changed or comes from another version.");
            expected += s.Shard.Batches;
        }
        long totalBatches = (run.TotalSamples + run.BatchSize - 1) / run.BatchSize;
        long samples = ordered.Sum(f => f.Statistics.Samples);
        if (expected != totalBatches || samples != run.TotalSamples)
            throw new OnnxQuantException($"merge-stats: the shards hold {expected} batches and {samples} samples, not the run's {totalBatches} and {run.TotalSamples}; the files were changed.");
        return ordered;
    }

    private static void CheckSameTensors(List<(string Path, CalibrationStatistics Statistics)> files)
    {
        var (firstPath, first) = files[0];
        foreach (var (path, s) in files.Skip(1))
        {
            string? only = first.Tensors.Keys.FirstOrDefault(k => !s.Tensors.ContainsKey(k));
            string? extra = s.Tensors.Keys.FirstOrDefault(k => !first.Tensors.ContainsKey(k));
            if (only is not null || extra is not null)
                throw new OnnxQuantException($"merge-stats: {(only is not null ? $"{firstPath} has tensor '{only}', which {path} lacks" : $"{path} has tensor '{extra}', which {firstPath} lacks")}; "
                    + "calibrate every part with the same model and recipe.");
        }
    }
}
