using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Passes;
using OnnxQuant.Passes.Calibration;
using OnnxQuant.Runtime.DataSources;
using OnnxQuant.Passes.Quantization;
using OnnxQuant.Passes.Quantization.Sensitivity;
using OnnxQuant.Passes.Recipes;
using Spectre.Console;

namespace OnnxQuant.Cli.Commands;

/// <summary>
/// <c>onnxquant sensitivity MODEL --data X [--recipe R] [--count N] [--shape NAME=DIMS] [--json]</c>: runs the
/// recipe's passes before <c>insert-qdq</c> (canonicalization and calibration on X), then quantizes one node group at
/// a time, and everything but that group, and prints the output SQNR vs float of each
/// (<see cref="SensitivityAnalysis"/>), most sensitive group first. Only calibration data is used.
/// </summary>
public static class SensitivityCommand
{
    public static Command Create()
    {
        var model = new Argument<string>("MODEL") { Description = "The float .onnx model." };
        var data = new Option<string>("--data")
        {
            HelpName = "PATH",
            Description = "Calibration data (as for quantize --data); the first --count samples also measure the SQNR.",
            Required = true,
        };
        var recipe = new Option<string>("--recipe", "-r")
        {
            Description = "The static recipe whose insert-qdq settings are measured (default w8a8).",
            DefaultValueFactory = _ => "w8a8",
        };
        var count = new Option<int>("--count") { HelpName = "N", Description = "Samples the SQNR is measured on (default 16).", DefaultValueFactory = _ => 16 };
        var shape = new Option<string[]>("--shape") { HelpName = "NAME=DIMS", Description = "Fix an input's free dimensions (repeatable)." };
        var json = new Option<bool>("--json") { Description = "Print the report as JSON." };
        var seed = new Option<int?>("--seed") { HelpName = "S", Description = "Noise seed of --data sampler:FILE (default: the recipe's calibration seed)." };
        var command = new Command("sensitivity", "Measure which node groups lose most accuracy when quantized (output SQNR vs float, on calibration data).")
        {
            model, data, recipe, count, shape, json, seed,
        };
        command.SetAction((parse, cancellation) => Task.FromResult(Execute(parse.GetValue(model)!, parse.GetValue(data)!, parse.GetValue(recipe)!,
            parse.GetValue(count), parse.GetValue(shape) ?? [], parse.GetValue(seed), parse.GetValue(json), parse.InvocationConfiguration.Output, cancellation)));
        return command;
    }

    private static int Execute(string modelPath, string data, string recipeSpec, int count, string[] shapes, int? seed, bool json, TextWriter output, CancellationToken cancellation)
    {
        if (count < 1) throw new OnnxQuantException($"--count is at least 1; {count} is not.");
        var recipe = RecipeLoader.LoadFileOrPreset(recipeSpec);
        int qdqIndex = -1;
        for (int i = 0; i < recipe.Steps.Count && qdqIndex < 0; i++)
            if (recipe.Steps[i].Passes.Any(p => p.Pass is InsertQdqPass)) qdqIndex = i;
        if (qdqIndex < 0)
            throw new OnnxQuantException($"sensitivity: the recipe '{recipe.Name}' has no insert-qdq pass; give a static recipe (e.g. --recipe w8a8).");
        var qdqOptions = (InsertQdqOptions)recipe.Steps[qdqIndex].Passes.First(p => p.Pass is InsertQdqPass).Options;

        var console = PipelineCli.ConsoleFor(output);
        void Log(string message)
        {
            if (!json) console.MarkupLine($"  [grey]{Markup.Escape(message)}[/]");
        }

        using var model = OnnxReader.Read(modelPath);
        var parsedShapes = ShapeOverrides.Parse(shapes);
        var settings = CalibrationSection.Parse(recipe.Calibration, recipe.Source);
        settings = settings with
        {
            Data = data,
            Source = parsedShapes.Count > 0 ? settings.Source with { Shapes = parsedShapes } : settings.Source,
            SamplerSeed = seed,
        };
        var context = new PassContext(0, cancellation, Log);
        context.SetAnalysis(settings);
        new PassManager(recipe.Steps.Take(qdqIndex).ToList()).Run(model, context);
        var calibration = context.GetAnalysis<CalibrationResult>()
            ?? throw new OnnxQuantException($"sensitivity: the recipe '{recipe.Name}' runs no calibrate pass before insert-qdq.");

        var samples = new List<IReadOnlyDictionary<string, Tensor>>();
        using (var source = (settings with { Source = settings.Source with { Count = count, BatchSize = 1, Shuffle = false } }).OpenData(model, null))
            foreach (var batch in source.Batches()) samples.Add(batch.Feeds);

        var report = SensitivityAnalysis.Run(model, calibration, qdqOptions, samples, Path.GetFileName(modelPath), recipe.Name, Log, cancellation);
        if (json)
        {
            output.WriteLine(JsonSerializer.Serialize(report, EvalCommand.JsonOptions));
            return 0;
        }
        console.MarkupLine($"[bold]{Markup.Escape(report.Model)}[/], recipe {Markup.Escape(report.Recipe)}: {report.Candidates} quantizable nodes, " +
                           $"{report.Samples} samples; all quantized: output SQNR {F(report.AllQuantizedSqnrDb)} dB");
        var table = new Table().Border(TableBorder.Simple).AddColumn("Group").AddColumn(new TableColumn("Nodes").RightAligned())
            .AddColumn(new TableColumn("Only this group (dB)").RightAligned()).AddColumn(new TableColumn("All but this group (dB)").RightAligned())
            .AddColumn(new TableColumn("Gain if float (dB)").RightAligned());
        foreach (var row in report.Rows)
            table.AddRow(new Text(row.Group), new Text(row.Nodes.ToString(CultureInfo.InvariantCulture)), new Text(F(row.OnlyThisSqnrDb)),
                new Text(F(row.AllButThisSqnrDb)), new Text(F(row.GainIfFloatDb(report.AllQuantizedSqnrDb))));
        console.Write(table);
        return 0;
    }

    private static string F(double db) => double.IsPositiveInfinity(db) ? "inf" : db.ToString("F2", CultureInfo.InvariantCulture);
}
