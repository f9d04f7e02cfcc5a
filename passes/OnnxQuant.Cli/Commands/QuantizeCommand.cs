using OnnxQuant.Runtime.DataSources;
using System.CommandLine;
using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Passes;
using OnnxQuant.Passes.Recipes;
using OnnxQuant.Passes.Quantization.AutoPrecision;
using OnnxQuant.Runtime.Calibration;
using Spectre.Console;

namespace OnnxQuant.Cli.Commands;

/// <summary>
/// <c>onnxquant quantize IN OUT --recipe NAME|FILE</c> (also <c>onnxquant IN OUT …</c>, see <see cref="PipelineCli.WithImplicitQuantize"/>): loads the model, runs the recipe
/// with a line per pass, writes the result atomically (a failure leaves no output file) and prints a summary.
/// </summary>
internal static class QuantizeCommand
{
    private const string Description = "Run a recipe on a model: onnxquant IN OUT --recipe NAME|FILE.";

    public static Command Create(CliEnvironment env)
    {
        var command = new Command("quantize", Description);
        new Symbols(env).AttachTo(command);
        return command;
    }

    private sealed record Settings(string Input, string Output, string? Recipe, bool VerifyEach, string[] PrintIrAfter,
        bool Stats, int Seed, bool ExternalData, Calibration Calibration, AutoPrecisionSettings AutoPrecision);

    /// <summary>Command-line calibration settings; they override the recipe's <c>calibration:</c> section.</summary>
    private sealed record Calibration(string? Data, int? Count, int? Skip, string[] Images, string[] Shapes, string? SaveTo, string? LoadFrom, string? SaveParams,
        OnnxQuant.Runtime.Calibration.BlockWiseMode? BlockWise);

    /// <summary>The arguments and options (each command needs its own instances).</summary>
    private sealed class Symbols(CliEnvironment env)
    {
        private readonly Argument<string> _input = new("IN") { Description = "The ONNX model to read." };
        private readonly Argument<string> _output = new("OUT") { Description = "Where to write the result (not IN)." };
        private readonly Option<string> _recipe = new("--recipe", "-r")
        {
            Description = "A recipe file, or the name of a built-in recipe (`onnxquant recipes` lists them).",
        };
        private readonly Option<bool> _verifyEach = new("--verify-each") { Description = "Verify the IR before the first pass and after every pass." };
        private readonly Option<string[]> _printIrAfter = new("--print-ir-after")
        {
            Description = "Print the IR after every run of this pass (repeatable).",
            HelpName = "PASS",
        };
        private readonly Option<bool> _stats = new("--stats") { Description = "Print the passes' statistics counters and pattern near misses." };
        private readonly Option<int> _seed = new("--seed") { Description = "Seed for anything random in the passes, and the noise seed of --data sampler:FILE (random data keeps the recipe's calibration seed).", DefaultValueFactory = _ => 0 };
        private readonly Option<bool> _externalData = new("--external-data") { Description = "Write large tensors to OUT.data beside OUT (always done when MODEL has external data)." };
        private readonly Option<string> _data = new("--data")
        {
            Description = "Calibration data (overrides the recipe's): a .npy/.npz file, a folder of NAME.npy files or images, or 'random'.",
            HelpName = "PATH",
        };
        private readonly Option<int?> _count = new("--count") { Description = "Use at most this many calibration samples." };
        private readonly Option<int?> _skip = new("--skip") { Description = "Pass over the first N samples (file order; sorted names for images), e.g. to hold out the rest for eval.", HelpName = "N" };
        private readonly Option<string[]> _image = new("--image")
        {
            Description = "Image preprocessing for a folder of images, KEY=VALUE (repeatable; keys of the recipe's calibration.images), e.g. --image resize-shorter-side=256 --image crop=256.",
            HelpName = "KEY=VALUE",
        };
        private readonly Option<string[]> _shape = new("--shape")
        {
            Description = "Fix an input's free dimensions for calibration, NAME=D0,D1,... (repeatable).",
            HelpName = "NAME=DIMS",
        };
        private readonly Option<OnnxQuant.Runtime.Calibration.BlockWiseMode?> _blockWise = EnumOption.Create<OnnxQuant.Runtime.Calibration.BlockWiseMode>("--block-wise",
            "Calibrate one block at a time (on), the whole model (off), or block-wise above the calibrate step's block-wise-above-mb (auto); overrides the step's block-wise.");
        private readonly Option<string> _saveCalib = new("--save-calib") { Description = "Save the calibration statistics (JSON) to reuse them.", HelpName = "FILE" };
        private readonly Option<string> _saveParams = new("--save-params")
        {
            Description = "Write every quantized tensor's scale, zero point, bits and granularity as JSON.",
            HelpName = "FILE",
        };
        private readonly Option<string> _loadCalib = new("--load-calib")
        {
            Description = "Reuse calibration statistics saved with --save-calib instead of running the model over data.",
            HelpName = "FILE",
        };

        private readonly Option<string> _target = new("--target")
        {
            Description = "auto-precision's accuracy target on held-out calibration samples: sqnr=DB, top1-drop=POINTS (with --labels), psnr-drop=DB; w8a8-diffusion-auto: psnr=DB on the final samples of the sampling loop.",
            HelpName = "KIND=VALUE",
        };
        private readonly Option<double?> _maxLatency = new("--max-latency") { Description = "auto-precision's latency budget, a ratio to float (estimated from the shipped kernel cost table).", HelpName = "RATIO" };
        private readonly Option<double?> _maxMinutes = new("--max-minutes") { Description = "Stop auto-precision's search after this long, keeping the best model so far (default 5).", HelpName = "MIN" };
        private readonly Option<string> _labels = new("--labels") { Description = "Labels of the calibration data for --target top1-drop (as eval --labels).", HelpName = "FILE" };
        private readonly Option<string> _keys = new("--keys") { Description = "CTC keys file: top1-drop then scores CTC exact match (as eval --keys).", HelpName = "FILE" };

        public void AttachTo(Command command)
        {
            command.Arguments.Add(_input);
            command.Arguments.Add(_output);
            foreach (var option in new Option[] { _recipe, _verifyEach, _printIrAfter, _stats, _seed, _externalData, _data, _count, _skip, _image, _shape, _saveCalib, _loadCalib, _saveParams, _blockWise, _target, _maxLatency, _maxMinutes, _labels, _keys })
                command.Options.Add(option);
            command.SetAction((parse, cancellation) => Task.FromResult(Execute(new Settings(
                parse.GetValue(_input)!, parse.GetValue(_output)!, parse.GetValue(_recipe), parse.GetValue(_verifyEach),
                parse.GetValue(_printIrAfter) ?? [], parse.GetValue(_stats), parse.GetValue(_seed), parse.GetValue(_externalData),
                new Calibration(parse.GetValue(_data), parse.GetValue(_count), parse.GetValue(_skip), parse.GetValue(_image) ?? [], parse.GetValue(_shape) ?? [], parse.GetValue(_saveCalib), parse.GetValue(_loadCalib), parse.GetValue(_saveParams), parse.GetValue(_blockWise)),
                new AutoPrecisionSettings
                {
                    Target = parse.GetValue(_target), MaxLatency = parse.GetValue(_maxLatency), MaxMinutes = parse.GetValue(_maxMinutes),
                    Labels = parse.GetValue(_labels), Keys = parse.GetValue(_keys),
                }),
                env, PipelineCli.ConsoleFor(parse.InvocationConfiguration.Output), parse.InvocationConfiguration.Error,
                // --verbose is the root's (recursive) option; the command may also be built under another root in tests.
                parse.Tokens.Any(t => t.Value is "--verbose" or "-v"), cancellation)));
        }
    }


    private static int Execute(Settings settings, CliEnvironment env, IAnsiConsole output, TextWriter errors, bool verbose, CancellationToken cancellation)
    {
        try
        {
            return Run(settings, env, output, cancellation);
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            errors.WriteLine("Cancelled; nothing was written.");
            return ExitCodes.Cancelled;
        }
        catch (PassFailedException e)
        {
            return PassErrorReport.Write(e, env.PresetDirectory, verbose, errors);
        }
        catch (OnnxQuantException e)
        {
            // Written unwrapped: the message's line breaks are deliberate, and it may be copied into a report.
            errors.WriteLine($"error: {e.Message}");
            return ExitCodes.UserError;
        }
    }

    /// <summary>
    /// The command line's checks and wording around <see cref="Quantizer"/>, which does the work (recipe, calibration
    /// data, passes, provenance, atomic write), so the library and the command give the same bytes.
    /// </summary>
    private static int Run(Settings settings, CliEnvironment env, IAnsiConsole output, CancellationToken cancellation)
    {
        string inputPath = Path.GetFullPath(settings.Input);
        string outputPath = Path.GetFullPath(settings.Output);
        OutputPath.Check(settings.Output, "OUT", inputPath);
        if (settings.Calibration.SaveTo is { } saveCalib) OutputPath.Check(saveCalib, "--save-calib", inputPath);
        if (settings.Calibration.SaveParams is { } saveParams) OutputPath.Check(saveParams, "--save-params", inputPath);
        if (settings.Recipe is null)
            throw new OnnxQuantException("Which recipe? Add --recipe NAME (a built-in recipe: `onnxquant recipes`) or --recipe FILE.yaml.");

        var cli = settings.Calibration;
        var result = CalibrationProgressView.Show(output, progress => Quantizer.Quantize(inputPath, outputPath, new QuantizeOptions
        {
            Recipe = RecipeSource.FileOrPreset(settings.Recipe),
            Calibration = new CalibrationData
            {
                Path = cli.Data, Count = cli.Count, Skip = cli.Skip, Image = cli.Images, Shapes = ShapeOverrides.Parse(cli.Shapes),
                SaveStatisticsTo = cli.SaveTo, LoadStatisticsFrom = cli.LoadFrom, BlockWise = cli.BlockWise,
            },
            Seed = settings.Seed,
            VerifyEach = settings.VerifyEach,
            PrintIrAfter = settings.PrintIrAfter,
            IrSink = text => WriteRaw(output, text),
            ExternalData = settings.ExternalData,
            SaveParametersTo = cli.SaveParams,
            AutoPrecision = settings.AutoPrecision,
            Registry = env.Registry,
            PresetDirectory = env.PresetDirectory,
            RecipeLoaded = recipe => output.MarkupLine(
                $"Recipe [bold]{Markup.Escape(recipe.Name)}[/] ({Markup.Escape(RecipeOrigin(recipe, env))}), {recipe.Passes.Count()} passes"),
            PassProgress = new Immediate<PassRun>(run => output.MarkupLine(
                $"  {Markup.Escape(run.Label),-40} {(run.Modified ? "[green]changed[/]  " : "[grey]unchanged[/]")} {ModelSummary.FormatTime(run.Elapsed),10}")),
            Log = message => output.MarkupLine($"    [grey]{Markup.Escape(message)}[/]"),
            Progress = progress is null ? null : new Immediate<CalibrationProgress>(progress),
        }, cancellation));

        PrintSummary(output, settings, result);
        output.MarkupLine($"Wrote [bold]{Markup.Escape(settings.Output)}[/]" +
            (result.ExternalDataPath is { } data ? $" and {Markup.Escape(Path.GetFileName(data))}" : "") + ".");
        return 0;
    }

    private static string RecipeOrigin(Recipe recipe, CliEnvironment env) =>
        Path.GetFullPath(recipe.Source).StartsWith(Path.GetFullPath(env.PresetDirectory), StringComparison.Ordinal) ? "built-in" : recipe.Source;

    /// <summary>Reports on the calling thread, so pass lines print in order between the passes' own log lines.</summary>
    private sealed class Immediate<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }

    /// <summary>Text that must not be wrapped at the console width (IR dumps).</summary>
    private static void WriteRaw(IAnsiConsole console, string text)
    {
        var writer = console.Profile.Out.Writer;
        writer.Write(text);
        if (!text.EndsWith('\n')) writer.WriteLine();
        writer.Flush();
    }

    private static void PrintSummary(IAnsiConsole output, Settings settings, QuantizationResult quantization)
    {
        var (before, after, result) = (quantization.Before, quantization.After, quantization.Pipeline);
        var model = new Table().Border(TableBorder.Simple).AddColumn("").AddColumn(new TableColumn("Before").RightAligned())
            .AddColumn(new TableColumn("After").RightAligned());
        model.AddRow("Nodes", before.NodeCount.ToString(), after.NodeCount.ToString());
        model.AddRow("Weights", ModelSummary.FormatBytes(before.WeightBytes), ModelSummary.FormatBytes(after.WeightBytes));
        model.AddRow("File size", ModelSummary.FormatBytes(before.FileBytes ?? 0), ModelSummary.FormatBytes(after.FileBytes ?? 0));
        output.Write(model);

        var ops = new Table().Border(TableBorder.Simple).AddColumn("Op").AddColumn(new TableColumn("Before").RightAligned())
            .AddColumn(new TableColumn("After").RightAligned());
        foreach (string op in before.Ops.Keys.Union(after.Ops.Keys).Order(StringComparer.Ordinal))
        {
            int b = before.Ops.GetValueOrDefault(op), a = after.Ops.GetValueOrDefault(op);
            ops.AddRow(new Text(op), new Text(b.ToString()), new Markup(a == b ? a.ToString() : $"[bold]{a}[/]"));
        }
        output.Write(ops);

        var times = new Table().Border(TableBorder.Simple).AddColumn("Pass").AddColumn(new TableColumn("Runs").RightAligned())
            .AddColumn(new TableColumn("Changed").RightAligned()).AddColumn(new TableColumn("Time").RightAligned());
        foreach (var t in result.TimeByPass)
            times.AddRow(new Text(t.Pass), new Text(t.Runs.ToString()), new Text(t.Changed.ToString()), new Text(ModelSummary.FormatTime(t.Elapsed)));
        times.AddRow(new Text("total"), new Text(""), new Text(""), new Text(ModelSummary.FormatTime(result.Elapsed)));
        output.Write(times);

        if (!settings.Stats) return;
        var counters = new Table().Border(TableBorder.Simple).AddColumn("Counter").AddColumn(new TableColumn("Value").RightAligned());
        foreach (var (key, value) in quantization.Counters.OrderBy(c => c.Key, StringComparer.Ordinal))
            counters.AddRow(new Text(key), new Text(value.ToString()));
        if (quantization.Counters.Count == 0) output.MarkupLine("No statistics counters were recorded.");
        else output.Write(counters);
        var misses = quantization.Misses;
        if (misses.Count == 0) return;
        var table = new Table().Border(TableBorder.Simple).AddColumn("Pattern").AddColumn("Did not fire because")
            .AddColumn(new TableColumn("Times").RightAligned());
        foreach (var (pattern, reasons) in misses.OrderBy(m => m.Key, StringComparer.Ordinal))
            foreach (var (reason, count) in reasons.OrderByDescending(r => r.Value).ThenBy(r => r.Key, StringComparer.Ordinal))
                table.AddRow(new Text(pattern), new Text(reason), new Text(count.ToString()));
        output.Write(table);
    }
}
