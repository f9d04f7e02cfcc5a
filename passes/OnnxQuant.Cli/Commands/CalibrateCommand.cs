using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Passes;
using OnnxQuant.Passes.Calibration;
using OnnxQuant.Runtime.DataSources;
using OnnxQuant.Passes.Calibration.Ranges;
using OnnxQuant.Runtime.Calibration.Statistics;
using OnnxQuant.Passes.Recipes;
using OnnxQuant.Runtime;
using OnnxQuant.Runtime.Calibration;
using Spectre.Console;

namespace OnnxQuant.Cli.Commands;

/// <summary>
/// <c>onnxquant calibrate MODEL --data PATH --out STATS [--recipe R] [--count N] [--method M] …</c>: runs the
/// recipe's passes before its <c>calibrate</c> step (so tensor names match what the recipe will quantize), collects
/// every floating-point activation's statistics over the data with a progress bar, saves them (JSON, see
/// StatisticsJson) and prints the widest and most clipped tensors. <c>--benchmark</c> also times plain inference on
/// the same batches and reports the peak resident memory. By default only the tensors insert-qdq reads ranges of are
/// observed (the recipe's <c>tensors</c>, see <see cref="CalibrationScope"/>): the saved file then serves
/// <c>--load-calib</c> for such recipes; <c>--all-tensors</c> keeps every activation's statistics.
/// </summary>
public static class CalibrateCommand
{
    public static Command Create(PassRegistry? registry = null, string? presetDirectory = null)
    {
        var model = new Argument<string>("MODEL") { Description = "The ONNX model to calibrate." };
        var data = new Option<string>("--data") { Description = "Calibration data: a .npy/.npz file, a folder of NAME.npy files or images, or 'random' (overrides the recipe).", HelpName = "PATH" };
        var output = new Option<string>("--out", "-o") { Description = "Where to write the statistics (JSON).", Required = true, HelpName = "STATS" };
        var recipe = new Option<string>("--recipe", "-r") { Description = "A recipe: its passes before 'calibrate' run first; its calibration section gives data and preprocessing." };
        var count = new Option<int?>("--count") { Description = "Samples to use (default: all; 256 for random).", HelpName = "N" };
        var skip = new Option<int?>("--skip") { Description = "Pass over the first N samples (file order; sorted names for images).", HelpName = "N" };
        var image = new Option<string[]>("--image") { Description = "Image preprocessing, KEY=VALUE (repeatable; keys of the recipe's calibration.images), e.g. --image resize-shorter-side=256 --image crop=256.", HelpName = "KEY=VALUE" };
        var method = EnumOption.Create<CalibrationMethod>("--method", "Range method for the summary and the recipe (default: the recipe's, else min-max; minmax is accepted too).");
        var symmetric = new Option<bool>("--symmetric") { Description = "Symmetric ranges (histograms of |x|)." };
        var percentile = new Option<double?>("--percentile") { Description = "Percent of values the percentile method keeps (default 99.999)." };
        var batch = new Option<int?>("--batch-size") { Description = "Samples per model run (default 1).", HelpName = "N" };
        var shuffle = new Option<bool>("--shuffle") { Description = "Use a seeded random subset and order of the samples." };
        var seed = new Option<int?>("--seed") { Description = "Seed for --shuffle and random data." };
        var shapes = new Option<string[]>("--shape") { Description = "Shape of one sample of an input as fed, NAME=D0,D1,… (repeatable).", HelpName = "NAME=DIMS" };
        var budget = new Option<double?>("--memory-budget") { Description = "MB of observed tensors per run; above it tensors are split into several passes over the data.", HelpName = "MB" };
        var allTensors = new Option<bool>("--all-tensors") { Description = "Observe every floating-point activation, not only those insert-qdq reads ranges of (the recipe's 'tensors')." };
        var shard = new Option<string?>("--shard") { Description = "Observe only part INDEX of COUNT of the batches (1-based, e.g. 2/4), for calibration on many machines; join the files with merge-stats.", HelpName = "INDEX/COUNT" };
        var blockWise = EnumOption.Create<BlockWiseMode>("--block-wise",
            "Run the model one block at a time (on), whole (off), or block-wise above the recipe's block-wise-above-mb (auto; the default).");
        var benchmark = new Option<bool>("--benchmark") { Description = "Also time plain inference on the same samples and print the ratio and peak memory." };
        var command = new Command("calibrate", "Collect activation statistics over calibration data and save them.")
        {
            model, data, output, recipe, count, skip, image, method, symmetric, percentile, batch, shuffle, seed, shapes, budget, allTensors, shard, blockWise, benchmark,
        };
        command.SetAction((parse, cancellation) =>
        {
            var args = new Arguments(parse.GetRequiredValue(model), parse.GetValue(data), parse.GetRequiredValue(output), parse.GetValue(recipe),
                parse.GetValue(count), parse.GetValue(skip), parse.GetValue(image) ?? [], parse.GetValue(method), parse.GetValue(symmetric), parse.GetValue(percentile), parse.GetValue(batch),
                parse.GetValue(shuffle), parse.GetValue(seed), parse.GetValue(shapes) ?? [], parse.GetValue(budget), parse.GetValue(allTensors), parse.GetValue(benchmark),
                parse.GetValue(shard) is { } s ? DataShard.Parse(s) : null, parse.GetValue(blockWise));
            Run(args, registry ?? PassRegistry.BuiltIn, presetDirectory ?? RecipePresets.DefaultDirectory,
                PipelineCli.ConsoleFor(parse.InvocationConfiguration.Output), cancellation);
            return Task.FromResult(ExitCodes.Success);
        });
        return command;
    }

    private sealed record Arguments(string Model, string? Data, string Output, string? Recipe, int? Count, int? Skip, string[] Images, CalibrationMethod? Method,
        bool Symmetric, double? Percentile, int? BatchSize, bool Shuffle, int? Seed, string[] Shapes, double? BudgetMb, bool AllTensors, bool Benchmark, DataShard? Shard,
        BlockWiseMode? BlockWise);

    private static void Run(Arguments a, PassRegistry registry, string presets, IAnsiConsole console, CancellationToken cancellation)
    {
        if (Directory.Exists(a.Output))
            throw new OnnxQuantException($"--out {a.Output} is a folder; give a file name, e.g. {Path.Combine(a.Output, "calibration.json")}.");
        var shapes = ShapeOverrides.Parse(a.Shapes);
        using var model = OnnxReader.Read(a.Model);

        var settings = new CalibrationSettings();
        var options = new CalibrateOptions();
        IReadOnlyList<PassStep> readers = [];
        List<PipelineStep> before = [];
        string recipeName = "";
        if (a.Recipe is not null)
        {
            var r = RecipeLoader.LoadFileOrPreset(a.Recipe, registry, presets);
            settings = CalibrationSection.Parse(r.Calibration, r.Source);
            int at = r.Steps.ToList().FindIndex(s => s is PassStep { Name: "calibrate" });
            if (at >= 0) options = (CalibrateOptions)((PassStep)r.Steps[at]).Options;
            // What the recipe's passes after its calibrate step read, so that --load-calib later finds it all.
            if (at >= 0) readers = new StatisticsSchedule(r.Steps).ReadersOf((PassStep)r.Steps[at]);
            before = at >= 0 ? r.Steps.Take(at).ToList() : r.Steps.ToList();
            recipeName = r.Name;
        }
        string data = a.Data ?? settings.Data ?? options.Data ?? throw new OnnxQuantException(
            "Which data? Add --data PATH (a .npy/.npz file, a folder of NAME.npy files or images, or 'random'), or 'data:' in the recipe's calibration section.");
        var source = settings.Source;
        source = source with
        {
            Count = a.Count ?? source.Count,
            Skip = a.Skip ?? source.Skip,
            Images = CalibrationSection.ParseImageOptions(a.Images, source.Images),
            BatchSize = a.BatchSize ?? source.BatchSize,
            Shuffle = a.Shuffle || source.Shuffle,
            Seed = a.Seed ?? source.Seed,
            Shapes = shapes.Count > 0 ? shapes : source.Shapes,
            Shard = a.Shard,
        };
        var rangeOptions = options.ToRangeOptions() with
        {
            Method = a.Method ?? options.Method,
            Symmetric = a.Symmetric || options.Symmetric,
            Percentile = a.Percentile ?? options.Percentile,
        };
        long? budget = a.BudgetMb is double mb ? (long)(mb * 1024 * 1024) : settings.MemoryBudgetBytes;
        if (before.Count > 0)
        {
            console.MarkupLine($"Running the {before.Sum(s => s.Passes.Count())} passes of recipe [bold]{Markup.Escape(recipeName)}[/] before calibration");
            // Passes that collect their own statistics (smooth-quant, equalize, awq…) read the same data, unsharded.
            var context = new PassContext(a.Seed ?? 0, cancellation);
            context.SetAnalysis(settings with { Data = data, Source = source with { Shard = null } });
            new PassManager(before, registry: registry).Run(model, context);
        }

        using var dataSource = CalibrationDataSource.Open(data, model, source);
        var targets = CalibratePass.CollectionTargets(model, rangeOptions, a.AllTensors ? CalibrationScope.All : options.Tensors, readers);
        // A moving average depends on the order and number of batches: shards of it do not add up to one run.
        if (a.Shard is not null && targets.FirstOrDefault(t => t.Value.MovingAverage) is { Key: not null } moving)
            throw new OnnxQuantException($"--shard {a.Shard}: the recipe calibrates '{moving.Key}' with a moving-average min/max, which shards cannot reproduce "
                + "(it depends on the order of all batches). Use the plain min-max (moving-average: false) or a histogram method, or calibrate in one run.");
        string shardText = dataSource.Shard is { } sh ? $" (shard {sh}: batches {dataSource.ShardBatches.First + 1}–{dataSource.ShardBatches.First + dataSource.ShardBatches.Count} of {(dataSource.TotalSamples + dataSource.BatchSize - 1) / dataSource.BatchSize})" : "";
        console.MarkupLine($"Calibrating [bold]{targets.Count}[/] tensors of {Markup.Escape(Path.GetFileName(a.Model))} on "
            + $"{dataSource.Count} samples of {Markup.Escape(dataSource.Description)} (batches of {dataSource.BatchSize}, method {EnumSpelling.Of(rangeOptions.Method)}){Markup.Escape(shardText)}");
        // Warm up first (JIT, reading the data), so that the first timed run does not pay for what the others reuse.
        if (a.Benchmark) PlainInferenceSeconds(model, dataSource, batches: 8);
        var plainBefore = a.Benchmark ? PlainInferenceSeconds(model, dataSource) : default;
        var clock = Stopwatch.StartNew();
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        CalibrationProgress last = default;
        var logs = new List<string>();
        CalibrationStatistics Collect(Action<CalibrationProgress> progress) =>
            CalibrationCollector.Collect(model, dataSource, targets, new CollectorOptions
            {
                MemoryBudgetBytes = budget,
                BlockWise = a.BlockWise ?? settings.BlockWise ?? options.BlockWise,
                BlockWiseAboveBytes = CalibrateOptions.Bytes(options.BlockWiseAboveMb),
                BlockBytes = CalibrateOptions.Bytes(options.BlockMb),
                Progress = p => { last = p; progress(p); },
                Log = logs.Add,
                Cancellation = cancellation,
            });
        CalibrationStatistics statistics;
        if (console.Profile.Capabilities.Interactive)
        {
            statistics = null!;
            console.Progress().Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                .Start(ctx =>
                {
                    var task = ctx.AddTask("calibrating");
                    statistics = Collect(p =>
                    {
                        task.MaxValue = p.TotalSamples;
                        task.Value = p.TotalSamplesDone;
                        task.Description = string.Create(CultureInfo.InvariantCulture, $"pass {p.Pass}/{p.Passes}, {p.SamplesPerSecond:F1} samples/s");
                    });
                });
        }
        else
        {
            int reported = 0;
            statistics = Collect(p =>
            {
                if (p.PassSamplesDone != p.SamplesPerPass || p.Pass == reported) return;
                reported = p.Pass;
                console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  pass {p.Pass}/{p.Passes}: {p.SamplesPerPass} samples, {p.SamplesPerSecond:F1} samples/s"));
            });
        }
        clock.Stop();
        double calibrationCpu = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds;
        var plainAfter = a.Benchmark ? PlainInferenceSeconds(model, dataSource) : default;
        if (dataSource.Shard is { } part)
            statistics.Shard = new CalibrationShard(part.Index, part.Count, dataSource.TotalSamples, dataSource.BatchSize, dataSource.ShardBatches.First, dataSource.ShardBatches.Count);
        dataSource.NonFinite.Report(dataSource.Description, logs.Add);
        foreach (string line in logs) console.MarkupLine($"  [grey]{Markup.Escape(line)}[/]");
        try { statistics.Save(a.Output); }
        catch (OnnxQuantException e) { throw CliErrors.WriteFailed(a.Output, e.InnerException ?? e); }

        PrintSummary(console, statistics, rangeOptions);
        console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Calibrated {statistics.Count} tensors on {statistics.Samples} samples in {clock.Elapsed.TotalSeconds:F2} s ({last.Passes} pass(es), {statistics.Samples / clock.Elapsed.TotalSeconds:F1} samples/s)."));
        if (a.Benchmark) Benchmark(console, dataSource, plainBefore, plainAfter, clock.Elapsed.TotalSeconds, calibrationCpu);
        console.MarkupLine($"Wrote [bold]{Markup.Escape(a.Output)}[/].");
    }

    private static void PrintSummary(IAnsiConsole console, CalibrationStatistics statistics, RangeOptions options)
    {
        var rows = new List<(string Name, TensorStatistics T, TensorRange Range, double Clipped)>();
        foreach (var (name, range) in RangeCalculator.ComputeAll(statistics, options))
        {
            var t = statistics[name];
            double clipped = t.Histogram?.FractionOutside(range.Min, range.Max) ?? 0;
            rows.Add((name, t, range, clipped));
        }
        var widest = Table("Widest tensors (by max |x|)", options);
        foreach (var r in rows.OrderByDescending(r => r.T.MinMax.AbsMax).Take(10)) AddRow(widest, r);
        console.Write(widest);
        if (options.Method == CalibrationMethod.MinMax) return;
        var clippedTable = Table("Most clipped tensors", options);
        foreach (var r in rows.Where(r => r.Clipped > 0).OrderByDescending(r => r.Clipped).Take(10)) AddRow(clippedTable, r);
        console.Write(clippedTable);
    }

    private static Table Table(string title, RangeOptions options) => new Table().Border(TableBorder.Simple).Title(title)
        .AddColumn("Tensor").AddColumn("Shape").AddColumn(new TableColumn("Min").RightAligned()).AddColumn(new TableColumn("Max").RightAligned())
        .AddColumn(new TableColumn($"Range ({EnumSpelling.Of(options.Method)})").RightAligned())
        .AddColumn(new TableColumn("Clipped").RightAligned());

    private static void AddRow(Table table, (string Name, TensorStatistics T, TensorRange Range, double Clipped) r) =>
        table.AddRow(new Text(r.Name), new Text("[" + string.Join(",", r.T.LastShape) + "]"),
            new Text(Format(r.T.MinMax.Min)), new Text(Format(r.T.MinMax.Max)),
            new Text($"[{Format(r.Range.Min)}, {Format(r.Range.Max)}]"),
            new Text(string.Create(CultureInfo.InvariantCulture, $"{r.Clipped * 100:F4} %")));

    private static string Format(double v) => v.ToString("G5", CultureInfo.InvariantCulture);

    /// <summary>Seconds of plain inference (no tensors exposed) over the same batches as calibration, timed the same
    /// way (session creation included).</summary>
    private static (double Wall, double Cpu) PlainInferenceSeconds(Model model, CalibrationDataSource data, int batches = int.MaxValue)
    {
        var clock = Stopwatch.StartNew();
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        using (var runner = ModelRunner.FromModel(model))
        {
            var outputs = runner.OutputNames.ToList();
            foreach (var batch in data.Batches().Take(batches)) runner.Run(batch.Feeds, outputs, (_, _, _, _) => { });
        }
        return (clock.Elapsed.TotalSeconds, (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds);
    }

    /// <summary>
    /// Prints calibration's rate as a ratio to plain inference's, the latter timed once before and once after
    /// calibration (so both see the machine's load alike) and taken over both runs; the same ratio in CPU time
    /// (steadier than wall time on a shared machine, and what an idle one would show for single-threaded runs); VmHWM.
    /// </summary>
    private static void Benchmark(IAnsiConsole console, CalibrationDataSource data, (double Wall, double Cpu) before, (double Wall, double Cpu) after,
        double calibrationWall, double calibrationCpu)
    {
        double plain = 2 * data.Count / (before.Wall + after.Wall), calibration = data.Count / calibrationWall;
        double plainCpu = 2 * data.Count / (before.Cpu + after.Cpu), calibrationPerCpu = data.Count / calibrationCpu;
        string hwm = File.Exists("/proc/self/status")
            ? File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("VmHWM:", StringComparison.Ordinal))?.Split(':')[1].Trim() ?? "?"
            : "?";
        // Short lines: the console wraps long ones.
        console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Plain inference: {plain:F1} samples/s ({data.Count / before.Wall:F1} before, {data.Count / after.Wall:F1} after)."));
        console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Calibration: {calibration:F1} samples/s, {calibration / plain:F2}x plain (batches of {data.BatchSize})."));
        console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Per CPU second: plain {plainCpu:F1}, calibration {calibrationPerCpu:F1} samples ({calibrationPerCpu / plainCpu:F2}x)."));
        console.WriteLine($"Peak resident memory (VmHWM): {hwm}.");
    }
}
