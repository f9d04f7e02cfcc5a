using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using OnnxQuant.Runtime.Evaluation;
using OnnxQuant.Runtime;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace OnnxQuant.Cli.Commands;

/// <summary>
/// <c>onnxquant eval FLOAT QUANT --data PATH|random [--shape NAME=DIMS] [--seed S] [--labels Y] [--task classify|compare|ctc|psnr] [--keys FILE] [--count N]
/// [--skip N] [--image KEY=VALUE] [--then FLOAT2 QUANT2] [--per-tensor] [--json] [--min-top1 V] [--max-drop D]
/// [--min-agreement A] [--max-kl K] [--provider cpu|cuda]</c>: how far a quantized model is from its float original
/// (<see cref="ModelEvaluator"/>); language models (token-id inputs, logits output) also by next-token agreement and
/// KL; autoencoders (<c>--then</c> chains encoder and decoder) by PSNR. Exit code 3 (<see cref="ExitCodes.GateFailed"/>)
/// when a gate fails, after printing the report. JSON format: passes/OnnxQuant.Cli/docs/eval-json.md.
/// </summary>
public static class EvalCommand
{
    /// <summary>Rows of the per-tensor table; JSON lists every tensor.</summary>
    private const int WorstTensorRows = 15;

    /// <summary>As inspect's, but NaN (an output that holds NaN) is written as the string "NaN" rather than failing.</summary>
    internal static JsonSerializerOptions JsonOptions { get; } = new(InspectCommand.JsonOptions)
    {
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public static Command Create()
    {
        var floatModel = new Argument<string>("FLOAT") { Description = "The float (reference) .onnx model." };
        var quantModel = new Argument<string>("QUANT") { Description = "The quantized .onnx model, with the same inputs and output names." };
        var inputs = new ModelInputOptions(dataRequired: true, "Samples along axis 0");
        var labels = new Option<string?>("--labels")
        {
            HelpName = "FILE",
            Description = "classify: class ids (.npy of int64, one per sample); ctc: a text file with one label per line.",
        };
        var task = new Option<string>("--task")
        {
            HelpName = "TASK",
            Description = "compare: output errors only (language models, i.e. token-id inputs and a logits output: also next-token agreement and KL); classify: also top-1 accuracy and agreement of the first output ([1, C]); ctc: also greedy CTC exact match of the first output ([1, T, C]); psnr: also the mean per-sample PSNR of the (last model's) first output against the first input, clipped to [0, 1].",
            DefaultValueFactory = _ => "compare",
        };
        task.AcceptOnlyFromAmong("compare", "classify", "ctc", "psnr", "diffusion");
        task.Description += " diffusion: run both denoisers through the sampler of --data sampler:FILE from the same noise (--seed, --count samples, default 200) and compare the final samples (PSNR, cosine; with --classifier, class agreement), beside the float sampler's seed-to-seed spread.";
        var classifier = new Option<string?>("--classifier") { HelpName = "MODEL", Description = "diffusion: a classifier of final samples (e.g. vit_mnist.onnx) for class agreement between float and quantized samples." };
        var noSpread = new Option<bool>("--no-spread") { Description = "diffusion: skip the float sampler's second run (seed + 1) that measures its seed-to-seed spread." };
        var classifierNorm = new Option<string?>("--classifier-norm")
        {
            HelpName = "MEAN,STD",
            Description = "diffusion: the classifier reads (pixel − MEAN)/STD with pixel = clamp((x+1)/2, 0, 1) (vit_mnist: 0.1307,0.3081; default 0,1).",
        };
        var keys = new Option<string?>("--keys") { HelpName = "FILE", Description = "ctc: the character list, one per line (class i > 0 is line i; the class after the last key is a space)." };
        var count = new Option<int?>("--count") { HelpName = "N", Description = "Use the first N samples (default: all)." };
        var skip = new Option<int>("--skip") { HelpName = "N", Description = "Pass over the first N samples (file order; sorted names for images), e.g. those used for calibration." };
        var then = new Option<string[]>("--then")
        {
            HelpName = "FLOAT2 QUANT2",
            Description = "Chain a second pair: FLOAT's outputs feed FLOAT2, QUANT's feed QUANT2 (e.g. an encoder then its decoder); FLOAT2's and QUANT2's outputs are compared.",
            Arity = new ArgumentArity(2, 2),
            AllowMultipleArgumentsPerToken = true,
        };
        var perTensor = new Option<bool>("--per-tensor") { Description = "Also compare every intermediate tensor both models have (same name and shape) and list the worst by SQNR." };
        var minTop1 = new Option<double?>("--min-top1")
        {
            HelpName = "PERCENT",
            Description = "Gate: exit 3 unless the quantized model's top-1 (ctc: exact match) is at least PERCENT (e.g. 98.0). Needs --labels.",
        };
        var maxDrop = new Option<double?>("--max-drop")
        {
            HelpName = "POINTS",
            Description = "Gate: exit 3 if float accuracy minus quantized accuracy exceeds POINTS percentage points (e.g. 0.5; needs --labels), or with --task psnr if the PSNR drop exceeds POINTS dB.",
        };
        var minAgreement = new Option<double?>("--min-agreement")
        {
            HelpName = "PERCENT",
            Description = "Gate (language models): exit 3 unless next-token top-1 agreement with the float model is at least PERCENT (e.g. 90).",
        };
        var maxKl = new Option<double?>("--max-kl")
        {
            HelpName = "NATS",
            Description = "Gate (language models): exit 3 if the mean KL(float||quant) of the next-token distributions exceeds NATS (e.g. 0.05).",
        };
        var defaults = new EvalOptions();
        var optimization = new Option<string>("--optimization")
        {
            HelpName = "LEVEL",
            Description = "ONNX Runtime graph optimizations for both models (all: as deployed, with integer kernels fused).",
            DefaultValueFactory = _ => defaults.Optimization.ToString().ToLowerInvariant(),
        };
        optimization.AcceptOnlyFromAmong("none", "basic", "extended", "all");
        var threads = new Option<int>("--threads") { HelpName = "N", Description = "ONNX Runtime intra-op threads (0: ONNX Runtime chooses).", DefaultValueFactory = _ => defaults.Threads };
        var json = new Option<bool>("--json") { Description = "Print JSON (stable; documented in passes/OnnxQuant.Cli/docs/eval-json.md) instead of tables." };
        var provider = ProviderOption.Create();
        var command = new Command("eval", "Measure a quantized model against its float original: output SQNR, cosine and max error, task accuracy, CI gates.")
        {
            floatModel, quantModel, labels, task, keys, count, skip, then, perTensor, minTop1, maxDrop, minAgreement, maxKl, optimization, threads, provider, json,
            classifier, classifierNorm, noSpread,
        };
        foreach (var option in inputs.All) command.Options.Add(option);
        command.SetAction(parse =>
        {
            var executionProvider = ProviderOption.Parse(parse.GetRequiredValue(provider));
            ExecutionProviders.EnsureAvailable(executionProvider);
            if (parse.GetRequiredValue(task) == "diffusion")
                return DiffusionEvalCli.Run(parse, parse.GetRequiredValue(floatModel), parse.GetRequiredValue(quantModel), parse.GetRequiredValue(inputs.Data),
                    parse.GetValue(count), parse.GetValue(inputs.Seed), parse.GetValue(classifier), parse.GetValue(classifierNorm), parse.GetValue(noSpread),
                    Enum.Parse<OptimizationLevel>(parse.GetRequiredValue(optimization), ignoreCase: true), parse.GetValue(threads), executionProvider, parse.GetValue(json));
            var options = new EvalOptions
            {
                Task = Enum.Parse<EvalTask>(parse.GetRequiredValue(task), ignoreCase: true),
                Labels = parse.GetValue(labels),
                Keys = parse.GetValue(keys),
                Count = parse.GetValue(count),
                Skip = parse.GetValue(skip),
                Images = inputs.Images(parse),
                Shapes = inputs.Shapes(parse),
                Seed = parse.GetValue(inputs.Seed),
                Then = parse.GetValue(then) is [var thenFloat, var thenQuant] ? (thenFloat, thenQuant) : null,
                PerTensor = parse.GetValue(perTensor),
                MinTop1 = parse.GetValue(minTop1),
                MaxDrop = parse.GetValue(maxDrop),
                MinAgreement = parse.GetValue(minAgreement),
                MaxKl = parse.GetValue(maxKl),
                Optimization = Enum.Parse<OptimizationLevel>(parse.GetRequiredValue(optimization), ignoreCase: true),
                Threads = parse.GetValue(threads),
                Provider = executionProvider,
            };
            var report = ModelEvaluator.Run(parse.GetRequiredValue(floatModel), parse.GetRequiredValue(quantModel), parse.GetRequiredValue(inputs.Data), options);
            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(json)) output.WriteLine(JsonSerializer.Serialize(report, JsonOptions));
            else Write(report, executionProvider, PipelineCli.ConsoleFor(output));
            return report.Passed ? ExitCodes.Success : ExitCodes.GateFailed;
        });
        return command;
    }

    private static void Write(EvalReport r, ExecutionProvider provider, IAnsiConsole console)
    {
        string then = r.ThenQuantModel is null ? "" : $", then {r.ThenQuantModel} against {r.ThenFloatModel}";
        console.Write(new Text($"{r.QuantModel} against {r.FloatModel}{then}: {r.Samples} samples of {r.Data}, ONNX Runtime {ProviderOption.Label(provider)}, optimizations {r.Optimization}.\n"));
        console.Write(ErrorTable("Output", r.Outputs));

        if (r.Psnr is { } p)
        {
            var table = new Table().Border(TableBorder.Rounded);
            table.AddColumn(new TableColumn(new Text("")));
            table.AddColumn(new TableColumn(new Text("PSNR vs input (mean of per-sample)")).RightAligned());
            table.AddRow(new Text("float"), new Text(Fmt($"{p.FloatDb:0.00} dB")));
            table.AddRow(new Text("quantized"), new Text(Fmt($"{p.QuantDb:0.00} dB (worst sample {p.QuantMinDb:0.00} dB)")));
            table.AddRow(new Text("drop"), new Text(Fmt($"{p.DropDb:0.00} dB")));
            console.Write(table);
        }

        if (r.Accuracy is { } a)
        {
            string metric = a.Metric == "top1" ? "Top-1" : "Exact match";
            var table = new Table().Border(TableBorder.Rounded);
            table.AddColumn(new TableColumn(new Text("")));
            table.AddColumn(new TableColumn(new Text(metric)).RightAligned());
            if (a.Labeled)
            {
                table.AddRow(new Text("float"), new Text($"{Pct(a.FloatRate!.Value)} ({a.FloatCorrect}/{a.Samples})"));
                table.AddRow(new Text("quantized"), new Text($"{Pct(a.QuantRate!.Value)} ({a.QuantCorrect}/{a.Samples})"));
                table.AddRow(new Text("drop"), new Text(Fmt($"{a.DropPoints!.Value:0.00} points")));
            }
            table.AddRow(new Text("agreement"), new Text($"{Pct(a.AgreementRate)} ({a.Agreements}/{a.Samples})"));
            console.Write(table);
        }

        if (r.NextToken is { } n)
        {
            var table = new Table().Border(TableBorder.Rounded);
            table.AddColumn(new TableColumn(new Text($"Next token ({n.Output}, vocab {n.Vocab})")));
            table.AddColumn(new TableColumn(new Text("")).RightAligned());
            table.AddRow(new Text("top-1 agreement"), new Text(Fmt($"{Pct(n.AgreementRate)} ({n.Agreements}/{n.Positions} positions)")));
            table.AddRow(new Text("mean KL(float||quant)"), new Text(Fmt($"{n.MeanKl:G4} nats")));
            table.AddRow(new Text("max KL at a position"), new Text(Fmt($"{n.MaxKl:G4} nats")));
            console.Write(table);
        }

        if (r.Tensors is { } tensors)
        {
            console.Write(new Text($"Intermediate tensors compared: {tensors.Count} (skipped {r.TensorsSkipped}: not floating-point, or shapes differ); the {Math.Min(WorstTensorRows, tensors.Count)} worst by SQNR:\n"));
            console.Write(ErrorTable("Tensor", tensors.Take(WorstTensorRows).ToList()));
        }

        foreach (var g in r.Gates)
        {
            string rule = g.Gate switch
            {
                "min-top1" => Fmt($"quantized {g.Value:0.00}% >= {g.Threshold:0.00}%"),
                "min-agreement" => Fmt($"agreement {g.Value:0.00}% >= {g.Threshold:0.00}%"),
                "max-kl" => Fmt($"mean KL {g.Value:G4} <= {g.Threshold:G4} nats"),
                _ => Fmt($"drop {g.Value:0.00} <= {g.Threshold:0.00} {(r.Psnr is null ? "points" : "dB")}"),
            };
            console.Write(new Text($"gate {g.Gate}: {(g.Passed ? "passed" : "FAILED")} ({rule})\n"));
        }
    }

    private static Table ErrorTable(string what, IReadOnlyList<ErrorSummary> rows)
    {
        var table = new Table().Border(TableBorder.Rounded);
        table.AddColumn(new TableColumn(new Text(what)));
        foreach (string c in new[] { "SQNR", "Cosine", "Max abs error", "Elements" })
            table.AddColumn(new TableColumn(new Text(c)).RightAligned());
        foreach (var e in rows)
        {
            string sqnr = e.SqnrDb is double db ? Fmt($"{db:0.00} dB") : e.Identical ? "inf (identical)" : "n/a";
            // Text, not markup: tensor names may contain '[' and ']'.
            table.AddRow(new IRenderable[]
            {
                new Text(e.Name), new Text(sqnr), new Text(Fmt($"{e.Cosine:0.000000}")), new Text(Fmt($"{e.MaxAbsError:G4}")),
                new Text(e.Elements.ToString(CultureInfo.InvariantCulture)),
            });
        }
        return table;
    }

    private static string Pct(double rate) => Fmt($"{rate:0.00}%");

    private static string Fmt(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
