using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using OnnxQuant.Ir;
using OnnxQuant.Runtime;
using OnnxQuant.Runtime.Diffusion;
using Spectre.Console;

namespace OnnxQuant.Cli.Commands;

/// <summary>
/// <c>eval FLOAT QUANT --task diffusion --data sampler:FILE [--count N] [--seed S] [--classifier M --classifier-norm MEAN,STD]</c>:
/// the options of <c>eval</c> mapped onto <see cref="DiffusionEvaluation"/>, and its report as tables or JSON.
/// </summary>
internal static class DiffusionEvalCli
{
    public static int Run(ParseResult parse, string floatModel, string quantModel, string data, int? count, int seed, string? classifier, string? norm, bool noSpread,
        OptimizationLevel optimization, int threads, ExecutionProvider provider, bool json)
    {
        if (!SamplerTrajectories.IsSamplerData(data))
            throw new OnnxQuantException($"--task diffusion needs --data sampler:FILE (the sampling loop to run both denoisers through), not '{data}'.");
        var (mean, std) = norm is null ? (0.0, 1.0) : ParseNorm(norm);
        var report = DiffusionEvaluation.Run(floatModel, quantModel, data[SamplerTrajectories.Prefix.Length..], new DiffusionEvalOptions
        {
            Count = count ?? 200,
            Seed = seed,
            Classifier = classifier,
            ClassifierMean = mean,
            ClassifierStd = std,
            NoSpread = noSpread,
            Optimization = optimization,
            Threads = threads,
            Provider = provider,
        });
        var output = parse.InvocationConfiguration.Output;
        if (json)
        {
            output.WriteLine(JsonSerializer.Serialize(report, EvalCommand.JsonOptions));
            return ExitCodes.Success;
        }
        var console = PipelineCli.ConsoleFor(output);
        console.Write(new Text(F($"{report.QuantModel} against {report.FloatModel}: {report.Samples} samples, {report.Steps} steps of {report.Sampler}, noise seed {report.Seed}.\n")));
        var table = new Table().Border(TableBorder.Rounded);
        table.AddColumn(new TableColumn(new Text("final samples")));
        foreach (string c in new[] { "mean PSNR", "worst PSNR", "mean cosine", "worst cosine", "class agreement" })
            table.AddColumn(new TableColumn(new Text(c)).RightAligned());
        Row(table, "quantized vs float, same noise", report.Quantized);
        if (report.FloatSeedSpread is { } spread) Row(table, F($"float seed {report.Seed} vs seed {report.Seed + 1} (spread)"), spread);
        console.Write(table);
        if (report.FloatClassMatchRate is double f && report.QuantClassMatchRate is double q)
            console.Write(new Text(F($"requested class recognised: float {f:0.0}%, quantized {q:0.0}%\n")));
        return ExitCodes.Success;
    }

    private static void Row(Table table, string name, DiffusionFidelity d) =>
        table.AddRow(new Text(name), new Text(F($"{d.MeanPsnrDb:0.00} dB")), new Text(F($"{d.WorstPsnrDb:0.00} dB (#{d.WorstPsnrSample})")),
            new Text(F($"{d.MeanCosine:0.0000}")), new Text(F($"{d.WorstCosine:0.0000}")),
            new Text(d.AgreementRate is double a ? F($"{a:0.0}% ({d.Agreements})") : "-"));

    private static (double, double) ParseNorm(string text)
    {
        var parts = text.Split(',');
        if (parts.Length == 2 && double.TryParse(parts[0], NumberStyles.Float, CultureInfo.InvariantCulture, out double mean)
            && double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out double std) && std > 0)
            return (mean, std);
        throw new OnnxQuantException($"--classifier-norm '{text}' is not MEAN,STD with STD > 0 (vit_mnist: 0.1307,0.3081).");
    }

    private static string F(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
