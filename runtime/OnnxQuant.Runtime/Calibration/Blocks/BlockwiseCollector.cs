using System.Diagnostics;
using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Runtime.Calibration.Statistics;
using OnnxQuant.Runtime.DataSources;

namespace OnnxQuant.Runtime.Calibration.Blocks;

/// <summary>
/// Block-wise calibration: the model runs one <see cref="GraphBlock"/> at a time (<see cref="BlockPartition"/>), each
/// over every batch of the calibration data, in its own ONNX Runtime session (<see cref="BlockSession"/>) that holds
/// only that block's weights; the values that cross the cut after it are kept for the next block
/// (<see cref="CarriedActivations"/>, spilled to disk when large). Peak memory is about one block plus the
/// activations at a cut, instead of the whole model held by ORT next to our own copy.
/// <para>
/// The statistics are those of a whole-model run: every node computes from the same inputs with the same kernels (ORT
/// with the same settings; a block's inputs are the exact bytes the whole model would have computed), and each tensor
/// still sees the batches one at a time and in order (test <c>BlockwiseCalibrationTests</c>: byte-identical
/// statistics files). A memory budget (<see cref="CollectorOptions.MemoryBudgetBytes"/>) is not applied: a block
/// exposes only its own tensors.
/// </para>
/// </summary>
public static class BlockwiseCollector
{
    /// <summary>
    /// The partition to calibrate <paramref name="model"/> with under <paramref name="options"/>, or null for a
    /// whole-model run: block-wise off, auto with weights below the threshold, or no usable cut (then the reason is
    /// logged, and the run falls back to the whole model).
    /// </summary>
    public static BlockPartition? Plan(Model model, CollectorOptions options, Action<string> log)
    {
        if (options.BlockWise == BlockWiseMode.Off) return null;
        long weights = OnnxWriter.TotalTensorBytes(model);
        if (options.BlockWise == BlockWiseMode.Auto && weights <= options.BlockWiseAboveBytes) return null;
        var partition = BlockPartition.TryCreate(model, options.BlockBytes, out string? reason);
        if (partition is null)
        {
            log($"calibrate: block-wise calibration is not possible ({reason}); running the whole model ({weights >> 20} MB of weights) instead.");
            return null;
        }
        log($"calibrate: block-wise over {partition.Blocks.Count} blocks (largest {partition.Blocks.Max(b => b.WeightBytes) >> 20} MB of weights; "
            + $"{partition.LiveValuesAtCuts} values cross each cut besides graph inputs and side values).");
        return partition;
    }

    public static CalibrationStatistics Collect(Model model, BlockPartition partition, CalibrationDataSource data,
        IReadOnlyList<KeyValuePair<string, ObserverSpec>> targets, Dictionary<string, TensorStatistics> statistics,
        CollectorOptions options)
    {
        var log = options.Log ?? (_ => { });
        var blocks = partition.Blocks;
        var inputNames = model.Graph.Inputs.Where(v => !v.IsConstant).Select(v => v.Name!).ToHashSet(StringComparer.Ordinal);
        var fromFeeds = statistics.Keys.Where(inputNames.Contains).ToList();

        // Which block computes each observed tensor, and which values each block must leave for the blocks after it.
        var producedIn = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var block in blocks)
            foreach (var n in block.Nodes)
                foreach (var v in n.Outputs)
                    if (v?.Name is { } name && statistics.ContainsKey(name)) producedIn[name] = block.Index;
        var neededAfter = new List<HashSet<Value>>();
        var later = new HashSet<Value>();
        for (int k = blocks.Count - 1; k >= 0; k--)
        {
            neededAfter.Insert(0, [.. later]);
            later.UnionWith(blocks[k].Inputs);
        }

        var skipped = new HashSet<string>(StringComparer.Ordinal);
        var batchSamples = new List<long>();
        using var carried = new CarriedActivations(options.SpillBytes);
        var clock = Stopwatch.StartNew();
        TimeSpan? lastReport = null;
        long totalWork = (long)blocks.Count * data.Count, totalDone = 0;
        foreach (var block in blocks)
        {
            var keep = neededAfter[block.Index];
            var kept = block.Outputs.Where(keep.Contains).Select(NameOf).ToHashSet(StringComparer.Ordinal);
            var fetch = block.Outputs.Where(keep.Contains).Select(NameOf).ToList();
            foreach (var (name, k) in producedIn)
                if (k == block.Index && !kept.Contains(name)) fetch.Add(name);
            var inputs = block.Inputs.Select(NameOf).ToList();
            BlockSession? session = null;
            long blockDone = 0;
            try
            {
                int batchIndex = 0;
                foreach (var (feeds, samples) in Feeds(block.Index, data, carried, batchSamples))
                {
                    options.Cancellation.ThrowIfCancellationRequested();
                    if (block.Index == 0)
                    {
                        batchSamples.Add(samples);
                        foreach (string name in fromFeeds)
                        {
                            var feed = feeds[name];
                            if (TensorStatistics.CanObserve(feed.ElementType))
                            {
                                statistics[name].Observe(feed);
                                options.Tap?.Invoke(name, feed.ElementType, feed.Dims.ToArray(), feed.RawData.Span, samples, data.Count);
                            }
                            else skipped.Add(name);
                        }
                    }
                    var next = new Dictionary<string, Tensor>(StringComparer.Ordinal);
                    // Values carried past this block: graph inputs and earlier blocks' outputs still needed later.
                    foreach (var v in keep)
                        if (feeds.TryGetValue(NameOf(v), out var t)) next[NameOf(v)] = t;
                    // Tensors of unrecorded type that turn out not to be floating-point are not fetched again.
                    if (fetch.Any(n => skipped.Contains(n) && !kept.Contains(n))) fetch = fetch.Where(n => !skipped.Contains(n) || kept.Contains(n)).ToList();
                    if (fetch.Count > 0)
                    {
                        var blockFeeds = inputs.ToDictionary(n => n, n => feeds[n], StringComparer.Ordinal);
                        session ??= new BlockSession(model, block, fetch, block.Inputs.ToDictionary(v => v, v => blockFeeds[NameOf(v)].ElementType),
                            NameOf, options.Runner);
                        using var outputs = session.Run(blockFeeds, fetch);
                        outputs.Visit((name, type, dims, bytes) =>
                        {
                            // Each tensor's statistics are touched by one thread; only the skip list is shared.
                            if (!statistics.TryGetValue(name, out var s)) return;
                            if (!TensorStatistics.CanObserve(type)) lock (skipped) skipped.Add(name);
                            else
                            {
                                s.Observe(type, dims, bytes);
                                options.Tap?.Invoke(name, type, dims, bytes, samples, data.Count);
                            }
                        }, options.ObserverThreads);
                        for (int i = 0; i < fetch.Count; i++)
                            if (kept.Contains(fetch[i])) next[fetch[i]] = OrtTensors.FromOrtValue(outputs.Values[i]);
                    }
                    carried.Store(batchIndex++, next);
                    blockDone += samples;
                    totalDone += samples;
                    if (options.Progress is not null && (lastReport is null || clock.Elapsed - lastReport >= options.ProgressInterval || blockDone == data.Count))
                    {
                        lastReport = clock.Elapsed;
                        double rate = clock.Elapsed.TotalSeconds > 0 ? totalDone / clock.Elapsed.TotalSeconds : 0;
                        options.Progress(new CalibrationProgress(block.Index + 1, blocks.Count, blockDone, data.Count, totalDone, totalWork, rate, clock.Elapsed,
                            rate > 0 ? TimeSpan.FromSeconds((totalWork - totalDone) / rate) : null));
                    }
                }
            }
            finally
            {
                session?.Dispose();
            }
            if (options.AfterBlock is { } afterBlock) HandOver(block, blocks.Count, data, statistics, producedIn, fromFeeds, skipped, afterBlock);
        }
        if (carried.Spilled) log("calibrate: the activations carried between blocks were larger than the spill threshold and went through a temporary folder.");
        var result = new CalibrationStatistics { Samples = data.Count, Source = data.Description };
        foreach (string name in skipped) log($"calibrate: '{name}' is not floating-point and was not calibrated.");
        foreach (var (name, _) in targets)
            if (!skipped.Contains(name) && statistics.TryGetValue(name, out var s)) result.Add(s);
        return result;
    }

    /// <summary>The statistics block <paramref name="block"/> completed go to <paramref name="afterBlock"/> and out of
    /// <paramref name="statistics"/> (so the final result does not hold them).</summary>
    private static void HandOver(GraphBlock block, int count, CalibrationDataSource data, Dictionary<string, TensorStatistics> statistics,
        Dictionary<string, int> producedIn, List<string> fromFeeds, HashSet<string> skipped, Action<CompletedBlock> afterBlock)
    {
        var completed = new CalibrationStatistics { Samples = data.Count, Source = data.Description };
        var names = producedIn.Where(p => p.Value == block.Index).Select(p => p.Key);
        if (block.Index == 0) names = fromFeeds.Concat(names);
        foreach (string name in names)
            if (!skipped.Contains(name) && statistics.Remove(name, out var s)) completed.Add(s);
        afterBlock(new CompletedBlock(block.Index, count, block.Nodes, completed));
    }

    /// <summary>Values in a graph are always named (the IR names a value when it joins one); names are what ORT exposes.</summary>
    private static string NameOf(Value v) => v.Name ?? throw new InvalidOperationException($"An unnamed value {v} in the graph.");

    /// <summary>Each batch's feeds for block <paramref name="index"/>: the data for the first block, the carried values after.</summary>
    private static IEnumerable<(Dictionary<string, Tensor> Feeds, long Samples)> Feeds(int index, CalibrationDataSource data, CarriedActivations carried,
        IReadOnlyList<long> batchSamples)
    {
        if (index == 0)
        {
            foreach (var batch in data.Batches())
                yield return (new Dictionary<string, Tensor>(batch.Feeds, StringComparer.Ordinal), batch.SampleCount);
            yield break;
        }
        for (int b = 0; b < carried.Batches; b++) yield return (carried.Load(b), batchSamples[b]);
    }
}
