using System.Diagnostics;
using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Runtime.DataSources;
using OnnxQuant.Runtime.Calibration.Statistics;
using OnnxQuant.Runtime;

namespace OnnxQuant.Runtime.Calibration;

/// <summary>
/// Runs a model in ONNX Runtime over calibration data with the observed tensors exposed as outputs, and updates
/// each tensor's statistics batch by batch straight from ORT's buffers. Observing batch n overlaps with running batch
/// n + 1 (<see cref="CollectorOptions.Overlap"/>); at most those two batches' outputs are held, so memory does not
/// grow with the number of samples, and each tensor still sees its batches one at a time and in order, so the
/// statistics are the same as without overlap. Under a memory budget the tensors
/// are split into chunks, one pass over the data each (see <see cref="CollectorOptions.MemoryBudgetBytes"/>).
/// </summary>
public static class CalibrationCollector
{
    private const string ProbeSuffix = "__onnxquant_shape";

    /// <summary>Collects statistics for the named tensors (main-graph inputs or node outputs).</summary>
    public static CalibrationStatistics Collect(Model model, CalibrationDataSource data,
        IEnumerable<KeyValuePair<string, ObserverSpec>> tensors, CollectorOptions? options = null)
    {
        options ??= new CollectorOptions();
        var log = options.Log ?? (_ => { });
        var targets = tensors.ToList();
        var byName = MainGraphValues(model);
        var inputNames = model.Graph.Inputs.Where(v => !v.IsConstant).Select(v => v.Name!).ToHashSet(StringComparer.Ordinal);
        var statistics = new Dictionary<string, TensorStatistics>(StringComparer.Ordinal);
        foreach (var (name, spec) in targets)
        {
            if (!byName.TryGetValue(name, out var value))
                throw new OnnxQuantException($"Cannot calibrate '{name}': the model's main graph has no tensor of that name (tensors inside If/Loop bodies cannot be exposed).");
            if (value.IsConstant)
                throw new OnnxQuantException($"Cannot calibrate '{name}': it is a constant (weights are quantized from their values, not from calibration data).");
            if (!statistics.TryAdd(name, new TensorStatistics(name, spec)))
                throw new OnnxQuantException($"Tensor '{name}' is listed twice for calibration.");
        }
        if (Blocks.BlockwiseCollector.Plan(model, options, log) is { } partition)
            return Blocks.BlockwiseCollector.Collect(model, partition, data, targets, statistics, options);
        var fromFeeds = statistics.Keys.Where(inputNames.Contains).ToList();
        var fromRuns = statistics.Keys.Where(n => !inputNames.Contains(n)).ToList();
        var chunks = Plan(model, data, fromRuns, options, log);

        var skipped = new HashSet<string>(StringComparer.Ordinal);
        int passes = Math.Max(1, chunks.Count);
        long totalWork = (long)passes * data.Count, totalDone = 0;
        // Overlapped, ORT runs on this thread while the observers take the other cores; under a memory budget the
        // second batch of outputs it would hold is not worth it.
        bool overlap = options.Overlap && options.MemoryBudgetBytes is null;
        int observerThreads = overlap ? Math.Max(1, options.ObserverThreads - 1) : options.ObserverThreads;
        var clock = Stopwatch.StartNew();
        TimeSpan? lastReport = null;
        for (int pass = 0; pass < passes; pass++)
        {
            var chunk = chunks.Count == 0 ? [] : chunks[pass];
            chunk = chunk.Where(n => !skipped.Contains(n)).ToList();
            using var runner = chunk.Count == 0 ? null : ModelRunner.FromModel(model, options.Runner, chunk);
            long passDone = 0, inFlight = 0;
            Task? observing = null;
            void ObserveOutputs(RunOutputs outputs, long samples)
            {
                using (outputs)
                    outputs.Visit((name, type, dims, bytes) =>
                    {
                        // Each tensor's statistics are touched by one thread; only the skip list is shared.
                        if (!TensorStatistics.CanObserve(type)) lock (skipped) skipped.Add(name);
                        else
                        {
                            statistics[name].Observe(type, dims, bytes);
                            options.Tap?.Invoke(name, type, dims, bytes, samples, data.Count);
                        }
                    }, observerThreads);
            }
            // Completes the batch in flight (rethrowing what its observers threw) and reports progress.
            void Complete()
            {
                var task = observing;
                observing = null;
                task?.GetAwaiter().GetResult();
                passDone += inFlight;
                totalDone += inFlight;
                inFlight = 0;
                if (options.Progress is not null && (lastReport is null || clock.Elapsed - lastReport >= options.ProgressInterval || passDone == data.Count))
                {
                    lastReport = clock.Elapsed;
                    options.Progress(Progress(pass, passes, passDone, data.Count, totalDone, totalWork, clock.Elapsed));
                }
            }
            try
            {
                foreach (var batch in data.Batches())
                {
                    options.Cancellation.ThrowIfCancellationRequested();
                    if (pass == 0)
                        foreach (string name in fromFeeds)
                            Observe(statistics[name], batch.Feeds[name], skipped, options.Tap, batch.SampleCount, data.Count);
                    // At most one batch is observed while the next runs, so memory stays bounded.
                    var outputs = chunk.Count > 0 ? RunAndKeep(runner!, batch, chunk) : null;
                    Complete();
                    // Tensors of unrecorded type that turn out not to be floating-point are not fetched again.
                    if (chunk.Any(skipped.Contains)) chunk = chunk.Where(n => !skipped.Contains(n)).ToList();
                    inFlight = batch.SampleCount;
                    if (outputs is null) continue;
                    long samples = batch.SampleCount;
                    if (overlap) observing = Task.Run(() => ObserveOutputs(outputs, samples));
                    else ObserveOutputs(outputs, samples);
                }
                Complete();
            }
            finally
            {
                // On failure, let the observers finish with ORT's buffers before the session goes.
                try { observing?.Wait(); }
                catch (AggregateException) { }
            }
        }
        foreach (string name in skipped) statistics.Remove(name);
        if (skipped.Count > 0)
            log($"calibrate: {skipped.Count} tensors of unrecorded type are not floating-point (shapes, indices; e.g. '{skipped.Order(StringComparer.Ordinal).First()}') and were not calibrated.");
        var result = new CalibrationStatistics { Samples = data.Count, Source = data.Description };
        foreach (var (name, _) in targets)
            if (statistics.TryGetValue(name, out var s)) result.Add(s);
        return result;
    }

    /// <summary>
    /// Splits the tensors into chunks whose bytes per batch stay within the budget (one chunk without a budget).
    /// Sizes come from a probe run of the first batch through a copy of the model that outputs only each tensor's
    /// shape (a Shape node per tensor), so the probe itself holds no more than a plain run. Sizes are assumed the same
    /// for every batch (the data has fixed shapes); element sizes are the recorded type's, or 4 bytes when unknown.
    /// </summary>
    public static List<List<string>> Plan(Model model, CalibrationDataSource data, IReadOnlyList<string> names, CollectorOptions options, Action<string>? log = null)
    {
        if (names.Count == 0) return [];
        if (options.MemoryBudgetBytes is not long budget) return [names.ToList()];
        if (budget <= 0) throw new OnnxQuantException($"The calibration memory budget must be positive (got {budget} bytes).");
        var sizes = ProbeBytes(model, data, names, options.Runner);
        var chunks = new List<List<string>>();
        var current = new List<string>();
        long used = 0;
        foreach (string name in names)
        {
            long bytes = sizes[name];
            if (bytes > budget)
                log?.Invoke($"calibrate: '{name}' alone takes {bytes} bytes per batch, more than the {budget}-byte budget; it gets a pass of its own.");
            if (current.Count > 0 && used + bytes > budget)
            {
                chunks.Add(current);
                current = [];
                used = 0;
            }
            current.Add(name);
            used += bytes;
        }
        if (current.Count > 0) chunks.Add(current);
        return chunks;
    }

    /// <summary>
    /// Runs one batch. A sample fed at its own size (<see cref="CalibrationBatch.Origin"/>) may be a size the model
    /// cannot take (an encoder whose height and width must be multiples of 8): that is the data's fault, reported as such.
    /// </summary>
    private static RunOutputs RunAndKeep(ModelRunner runner, CalibrationBatch batch, IReadOnlyList<string> names)
    {
        try { return runner.RunAndKeep(batch.Feeds, names); }
        catch (Exception e) when (batch.Origin is not null && e is not OperationCanceledException and not OutOfMemoryException)
        {
            throw new OnnxQuantException($"The model cannot run on {batch.Origin}: {e.Message.Trim()} "
                + "It may take only some sizes: add --image multiple-of=8 (or 16, 32: what the model divides by) to crop each image to such a size, "
                + "or resize and crop every image to one size (--image resize-shorter-side=256 --image crop=256).", e);
        }
    }

    private static Dictionary<string, long> ProbeBytes(Model model, CalibrationDataSource data, IReadOnlyList<string> names, RunnerOptions runnerOptions)
    {
        var byName = MainGraphValues(model);
        var proto = OnnxWriter.ToProto(model);
        proto.Graph.Output.Clear();
        foreach (string name in names)
        {
            proto.Graph.Node.Add(new Onnx.Proto.NodeProto { OpType = "Shape", Input = { name }, Output = { name + ProbeSuffix } });
            proto.Graph.Output.Add(new Onnx.Proto.ValueInfoProto
            {
                Name = name + ProbeSuffix,
                Type = new Onnx.Proto.TypeProto { TensorType = new Onnx.Proto.TypeProto.Types.Tensor { ElemType = (int)DataType.Int64 } },
            });
        }
        using var probeModel = OnnxReader.FromProto(proto, model.BaseDirectory);
        using var runner = ModelRunner.FromModel(probeModel, runnerOptions);
        var batch = data.Batches().First();
        var shapes = runner.Run(batch.Feeds, names.Select(n => n + ProbeSuffix).ToList());
        var result = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (string name in names)
        {
            long elements = shapes[name + ProbeSuffix].ToInt64Array().Aggregate(1L, (a, b) => a * b);
            var type = byName[name].ElementType;
            result[name] = type is { } t && t != DataType.String ? t.ByteLength(elements) : 4 * elements;
        }
        return result;
    }

    private static void Observe(TensorStatistics statistics, Ir.Tensor tensor, HashSet<string> skipped, ObservedBatchVisitor? tap, long batchSamples, long dataSamples)
    {
        if (TensorStatistics.CanObserve(tensor.ElementType))
        {
            statistics.Observe(tensor);
            tap?.Invoke(statistics.Name, tensor.ElementType, tensor.Dims.ToArray(), tensor.RawData.Span, batchSamples, dataSamples);
        }
        else lock (skipped) skipped.Add(statistics.Name); // the observers of the batch in flight may add too
    }

    /// <summary>The main graph's inputs, constants and node outputs by name.</summary>
    public static Dictionary<string, Value> MainGraphValues(Model model)
    {
        var map = new Dictionary<string, Value>(StringComparer.Ordinal);
        foreach (var v in model.Graph.Inputs) if (v.Name is not null) map[v.Name] = v;
        foreach (var v in model.Graph.Constants) if (v.Name is not null) map[v.Name] = v;
        foreach (var node in model.Graph.Nodes)
            foreach (var v in node.Outputs)
                if (v?.Name is not null) map[v.Name] = v;
        return map;
    }

    private static CalibrationProgress Progress(int pass, int passes, long passDone, long perPass, long totalDone, long totalWork, TimeSpan elapsed)
    {
        double rate = elapsed.TotalSeconds > 0 ? totalDone / elapsed.TotalSeconds : 0;
        TimeSpan? remaining = rate > 0 ? TimeSpan.FromSeconds((totalWork - totalDone) / rate) : null;
        return new CalibrationProgress(pass + 1, passes, passDone, perPass, totalDone, totalWork, rate, elapsed, remaining);
    }
}
