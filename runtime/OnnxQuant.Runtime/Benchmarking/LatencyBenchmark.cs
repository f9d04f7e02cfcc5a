using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;

namespace OnnxQuant.Runtime.Benchmarking;

/// <summary>
/// Measures the latency of one model, or of two models that take the same inputs, in ONNX Runtime on the CPU with
/// graph optimizations on (what users deploy) and intra-op spinning off (a spinning thread of one session would steal
/// the cores the other needs). Two models are timed interleaved in this process (<see cref="LatencyLoop"/>) and
/// compared as B / A; both are fed the same seeded inputs, copied into ORT once before timing.
/// </summary>
public static class LatencyBenchmark
{
    public const int SchemaVersion = 1;

    /// <param name="paths">One model (A) or two (A, B).</param>
    public static BenchReport Run(IReadOnlyList<string> paths, BenchOptions options)
    {
        if (paths.Count is < 1 or > 2) throw new OnnxQuantException($"bench takes one or two models, not {paths.Count}.");
        Validate(options);
        foreach (string path in paths) CheckFile(path);

        // Read each model for its inputs and data files, then let it go: ORT loads the file itself.
        var sizes = new List<(long File, long External)>();
        Dictionary<string, Tensor>? feeds = null;
        List<BenchReport.InputEntry>? inputs = null;
        foreach (string path in paths)
        {
            using var model = ReadModel(path);
            sizes.Add((new FileInfo(path).Length, ExternalDataFiles(model).Sum(f => new FileInfo(f).Length)));
            if (inputs is null)
            {
                var shapes = options.Feeds is { } given
                    ? given.ToDictionary(f => f.Key, f => f.Value.Dims.ToArray(), StringComparer.Ordinal)
                    : InputShapes.Resolve(model, options.Shapes, path);
                feeds = options.Feeds?.ToDictionary(f => f.Key, f => f.Value, StringComparer.Ordinal) ?? SampleInputs.ForModel(model, options.Seed, shapes);
                inputs = InputShapes.FedInputs(model)
                    .Select(i => new BenchReport.InputEntry(i.Name!, feeds[i.Name!].ElementType.OnnxName(), shapes[i.Name!]))
                    .ToList();
            }
            else CheckSameInputs(paths[0], inputs, path, model,
                options.Feeds is null ? options.Shapes : inputs.ToDictionary(i => i.Name, i => i.Shape.ToArray(), StringComparer.Ordinal));
        }

        var runnerOptions = new RunnerOptions
        {
            Optimization = OptimizationLevel.All,
            IntraOpThreads = options.Threads,
            AllowSpinning = false,
            Provider = options.Provider,
        };
        var runners = new List<ModelRunner>();
        var prepared = new List<PreparedRun>();
        try
        {
            foreach (string path in paths)
            {
                var runner = ModelRunner.FromFile(path, runnerOptions);
                runners.Add(runner);
                prepared.Add(runner.Prepare(feeds!));
            }
            var measurement = LatencyLoop.Measure(
                prepared.Select(p => (Action)p.Invoke).ToList(), options.Warmup, options.Runs, options.MinSeconds, options.Clock);
            return Report(paths, options, inputs!, sizes, measurement);
        }
        finally
        {
            foreach (var p in prepared) p.Dispose();
            foreach (var r in runners) r.Dispose();
        }
    }

    private static BenchReport Report(
        IReadOnlyList<string> paths, BenchOptions options, List<BenchReport.InputEntry> inputs,
        List<(long File, long External)> sizes, LatencyMeasurement measurement)
    {
        var models = new List<BenchReport.ModelEntry>();
        for (int i = 0; i < paths.Count; i++)
        {
            var seconds = measurement.Seconds[i];
            var s = LatencyStatistics.From(seconds);
            models.Add(new BenchReport.ModelEntry(
                i == 0 ? "A" : "B",
                paths[i],
                sizes[i].File,
                sizes[i].External,
                sizes[i].File + sizes[i].External,
                s.Runs,
                new BenchReport.LatencyEntry(Ms(s.Median), Ms(s.P90), Ms(s.Mean), Ms(s.Min), Ms(s.Max)),
                s.Throughput,
                seconds.Select(Ms).ToList()));
        }
        BenchReport.ComparisonEntry? comparison = null;
        if (models.Count == 2)
        {
            var (a, b) = (models[0], models[1]);
            comparison = new BenchReport.ComparisonEntry(
                LatencyStatistics.MedianOfRatios(measurement.Seconds[0], measurement.Seconds[1]),
                b.Latency.MedianMs / a.Latency.MedianMs,
                (double)b.TotalBytes / a.TotalBytes);
        }
        return new BenchReport(SchemaVersion, options.Threads, options.Warmup, options.MinSeconds, options.Seed,
            paths.Count > 1, measurement.ElapsedSeconds, inputs, models, comparison);
    }

    /// <summary>Seconds to milliseconds, rounded to the nanosecond: finer digits are float noise, not measurement.</summary>
    private static double Ms(double seconds) => Math.Round(seconds * 1e3, 6);

    private static void Validate(BenchOptions o)
    {
        ExecutionProviders.EnsureAvailable(o.Provider);
        if (o.Threads < 0) throw new OnnxQuantException($"--threads {o.Threads}: give a thread count of 1 or more, or 0 to let ONNX Runtime choose.");
        if (o.Runs < 1) throw new OnnxQuantException($"--runs {o.Runs}: give at least 1 timed run.");
        if (o.Warmup < 0) throw new OnnxQuantException($"--warmup {o.Warmup}: give 0 or more warm-up runs.");
        if (!(o.MinSeconds >= 0) || double.IsInfinity(o.MinSeconds))
            throw new OnnxQuantException($"--min-seconds {o.MinSeconds}: give a finite number of seconds, 0 or more.");
    }

    private static void CheckFile(string path)
    {
        if (Directory.Exists(path)) throw new OnnxQuantException($"bench: {path} is a folder; give the .onnx file.");
        if (!File.Exists(path)) throw new OnnxQuantException($"bench: model file {path} not found.");
    }

    private static Model ReadModel(string path)
    {
        try { return OnnxReader.Read(path); }
        catch (IOException e) { throw new OnnxQuantException($"bench: cannot read {path}: {e.Message}", e); }
        catch (UnauthorizedAccessException e) { throw new OnnxQuantException($"bench: cannot read {path}: {e.Message}", e); }
    }

    /// <summary>
    /// Model B must take exactly A's inputs (names, element types, sizes), since both are fed the same tensors. Names and
    /// types are compared before B's shapes are resolved, so that a wrong pair of models is reported as such rather than
    /// as a --shape that does not fit the second one.
    /// </summary>
    private static void CheckSameInputs(string pathA, List<BenchReport.InputEntry> a, string pathB, Model modelB, IReadOnlyDictionary<string, long[]> given)
    {
        var b = InputShapes.FedInputs(modelB);
        string Describe(IEnumerable<string> names) => string.Join(", ", names.Order(StringComparer.Ordinal));
        var namesA = a.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        if (!namesA.SetEquals(b.Select(i => i.Name!)))
            throw new OnnxQuantException(
                $"The two models take different inputs: {pathA} takes ({Describe(namesA)}), {pathB} takes ({Describe(b.Select(i => i.Name!))}). "
                + "bench compares two versions of one model (e.g. float and quantized), fed the same inputs.");
        foreach (var inputA in a)
        {
            var inputB = b.Single(i => i.Name == inputA.Name);
            string typeB = (inputB.Type as TensorType)?.ElementType.OnnxName() ?? inputB.Type?.ToString() ?? "untyped";
            if (typeB != inputA.ElementType)
                throw new OnnxQuantException(
                    $"Input '{inputA.Name}' is {inputA.ElementType} in {pathA} but {typeB} in {pathB}; both models must take the same input types.");
        }
        var shapesB = InputShapes.Resolve(modelB, given, pathB);
        foreach (var inputA in a)
            if (!shapesB[inputA.Name].SequenceEqual(inputA.Shape))
                throw new OnnxQuantException(
                    $"Input '{inputA.Name}' is fed as [{string.Join(",", inputA.Shape)}] to {pathA}, but {pathB} fixes it to [{string.Join(",", shapesB[inputA.Name])}]; "
                    + "both models must accept the same input sizes.");
    }

    /// <summary>The external data files that the model's tensors are mapped from, each once.</summary>
    private static IEnumerable<string> ExternalDataFiles(Model model)
    {
        var files = new HashSet<string>(StringComparer.Ordinal);
        foreach (var graph in model.AllGraphs())
        {
            foreach (var c in graph.Constants) Add(c.Const!);
            foreach (var node in graph.Nodes)
                foreach (var attribute in node.Attributes)
                {
                    if (attribute.Value is Tensor one) Add(one);
                    else if (attribute.Value is Tensor[] many) foreach (var t in many) Add(t);
                }
        }
        return files;

        void Add(Tensor t)
        {
            if (t.Storage is MappedTensorStorage mapped) files.Add(mapped.FilePath);
        }
    }
}
