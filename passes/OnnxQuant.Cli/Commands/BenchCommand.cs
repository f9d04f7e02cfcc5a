using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using OnnxQuant.Runtime;
using OnnxQuant.Runtime.Benchmarking;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace OnnxQuant.Cli.Commands;

/// <summary>
/// <c>onnxquant bench MODEL [MODEL2] [--threads N] [--runs N] [--warmup N] [--min-seconds S] [--data PATH|random]
/// [--shape NAME=DIMS] [--image KEY=VALUE] [--seed S] [--provider cpu|cuda] [--json]</c>: latency (median, p90, mean, min), throughput and file sizes of a model in ONNX Runtime;
/// with two models, both timed interleaved in one process and compared as MODEL2 / MODEL (<see cref="LatencyBenchmark"/>).
/// JSON format: passes/OnnxQuant.Cli/docs/bench-json.md.
/// </summary>
public static class BenchCommand
{
    public static Command Create()
    {
        var modelA = new Argument<string>("MODEL") { Description = "The .onnx model to time (A)." };
        var modelB = new Argument<string?>("MODEL2")
        {
            Description = "A second model with the same inputs (B, e.g. the quantized one), timed interleaved with A and reported as B / A.",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var defaults = new BenchOptions();
        var threads = new Option<int>("--threads")
        {
            HelpName = "N",
            Description = "ONNX Runtime intra-op threads (0: ONNX Runtime chooses).",
            DefaultValueFactory = _ => defaults.Threads,
        };
        var runs = new Option<int>("--runs") { HelpName = "N", Description = "Timed runs of each model.", DefaultValueFactory = _ => defaults.Runs };
        var warmup = new Option<int>("--warmup") { HelpName = "N", Description = "Untimed runs of each model first.", DefaultValueFactory = _ => defaults.Warmup };
        var minSeconds = new Option<double>("--min-seconds")
        {
            HelpName = "SECONDS",
            Description = "Keep timing until this many seconds have passed, as well as --runs runs.",
            DefaultValueFactory = _ => defaults.MinSeconds,
        };
        var inputs = new ModelInputOptions(dataRequired: false, "What to feed (one sample: the first)");
        var json = new Option<bool>("--json") { Description = "Print JSON (stable; documented in passes/OnnxQuant.Cli/docs/bench-json.md) instead of a table." };
        var provider = ProviderOption.Create();
        var command = new Command("bench", "Time a model in ONNX Runtime (graph optimizations on), or compare two models' latency and size.")
        {
            modelA, modelB, threads, runs, warmup, minSeconds, provider, json,
        };
        foreach (var option in inputs.All) command.Options.Add(option);
        command.SetAction(parse =>
        {
            var executionProvider = ProviderOption.Parse(parse.GetRequiredValue(provider));
            ExecutionProviders.EnsureAvailable(executionProvider);
            var paths = new List<string> { parse.GetRequiredValue(modelA) };
            if (parse.GetValue(modelB) is { } b) paths.Add(b);
            var options = new BenchOptions
            {
                Threads = parse.GetValue(threads),
                Provider = executionProvider,
                Runs = parse.GetValue(runs),
                Warmup = parse.GetValue(warmup),
                MinSeconds = parse.GetValue(minSeconds),
                Seed = parse.GetValue(inputs.Seed),
                Shapes = inputs.Shapes(parse),
                Feeds = inputs.FirstSample(parse, paths[0]),
            };
            var report = LatencyBenchmark.Run(paths, options);
            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(json)) output.WriteLine(JsonSerializer.Serialize(report, InspectCommand.JsonOptions));
            else
            {
                // Random inputs depend on the seed; data from --data does not, so the header names what was fed.
                string source = parse.GetValue(inputs.Data) is { Length: > 0 } data && data != "random"
                    ? $"first sample of {Path.GetFileName(data)}" : $"random, seed {report.Seed}";
                Write(report, source, executionProvider, PipelineCli.ConsoleFor(output));
            }
            return ExitCodes.Success;
        });
        return command;
    }

    private static void Write(BenchReport r, string inputSource, ExecutionProvider provider, IAnsiConsole console)
    {
        string inputs = string.Join(", ", r.Inputs.Select(i => $"{i.Name} {i.ElementType}[{string.Join(",", i.Shape)}]"));
        string threads = r.Threads == 0 ? "threads chosen by ONNX Runtime" : r.Threads == 1 ? "1 thread" : $"{r.Threads} threads";
        int runs = r.Models[0].Runs;
        console.Write(new Text(
            $"ONNX Runtime {ProviderOption.Label(provider)}, graph optimizations on, {threads}, {runs} timed runs after {r.Warmup} warm-up runs"
            + (r.Interleaved ? ", interleaved (A, B, B, A, ...)" : "") + ".\n"));
        console.Write(new Text($"Inputs ({inputSource}): {(inputs.Length == 0 ? "none" : inputs)}\n"));

        bool external = r.Models.Any(m => m.ExternalDataBytes > 0);
        var columns = new List<string> { "", "Model", "Size" };
        if (external) columns.Add("of which data files");
        columns.AddRange(["Median", "p90", "Mean", "Min", "Throughput"]);
        var table = new Table().Border(TableBorder.Rounded);
        for (int i = 0; i < columns.Count; i++)
        {
            var c = new TableColumn(new Text(columns[i]));
            if (i >= 2) c.RightAligned();
            table.AddColumn(c);
        }
        foreach (var m in r.Models)
        {
            var cells = new List<string> { m.Label, m.File, Bytes(m.TotalBytes) };
            if (external) cells.Add(Bytes(m.ExternalDataBytes));
            cells.AddRange([Ms(m.Latency.MedianMs), Ms(m.Latency.P90Ms), Ms(m.Latency.MeanMs), Ms(m.Latency.MinMs),
                string.Create(CultureInfo.InvariantCulture, $"{m.ThroughputPerSecond:N1} runs/s")]);
            // Text, not markup: paths may contain '[' and ']'.
            table.AddRow(cells.Select(s => (IRenderable)new Text(s)));
        }
        console.Write(table);

        if (r.Comparison is { } ratio)
        {
            console.Write(new Text(string.Create(CultureInfo.InvariantCulture,
                $"B / A latency: {ratio.LatencyRatio:0.000}x (median of per-round ratios; ratio of medians {ratio.LatencyRatioOfMedians:0.000}x)\n")));
            console.Write(new Text(string.Create(CultureInfo.InvariantCulture, $"B / A size:    {ratio.SizeRatio:0.000}x\n")));
        }
    }

    /// <summary>Milliseconds to four significant digits or so: enough to compare, no false precision.</summary>
    private static string Ms(double ms) => ms.ToString(ms < 10 ? "0.000" : ms < 100 ? "0.00" : "0.0", CultureInfo.InvariantCulture) + " ms";

    private static string Bytes(long bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB"];
        double v = bytes;
        int u = 0;
        while (v >= 1024 && u < units.Length - 1) { v /= 1024; u++; }
        return u == 0 ? $"{bytes} B" : string.Create(CultureInfo.InvariantCulture, $"{v:0.0} {units[u]}");
    }
}
