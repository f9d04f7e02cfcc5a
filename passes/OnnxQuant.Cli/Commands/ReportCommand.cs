using System.CommandLine;
using System.Text;
using OnnxQuant.Cli.Reporting;
using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Passes.Reporting;
using OnnxQuant.Runtime.DataSources;
using OnnxQuant.Runtime.Evaluation;

namespace OnnxQuant.Cli.Commands;

/// <summary>
/// <c>onnxquant report FLOAT QUANT --data X --out report.html</c>: one self-contained HTML page on what quantization
/// did to the model (see <see cref="QuantizationReport"/>): error through the network, worst tensors, weight error,
/// kernels formed, what stayed float and why, latency and size. Written to a temporary file and renamed.
/// </summary>
public static class ReportCommand
{
    public static Command Create()
    {
        var floatModel = new Argument<string>("FLOAT") { Description = "The float model." };
        var quantModel = new Argument<string>("QUANT") { Description = "The quantized model." };
        var output = new Option<string>("--out", "-o") { Description = "Where to write the page (HTML).", Required = true, HelpName = "HTML" };
        var inputs = new ModelInputOptions(dataRequired: true, "The samples to compare on");
        var count = new Option<int?>("--count") { Description = "Samples to evaluate (default 16).", HelpName = "N" };
        var skip = new Option<int?>("--skip") { Description = "Pass over the first N samples (e.g. the calibration split).", HelpName = "N" };
        var runs = new Option<int?>("--bench-runs") { Description = "Interleaved latency rounds (default 20; 0 skips the latency measurement).", HelpName = "N" };
        var threads = new Option<int?>("--threads") { Description = "Threads for latency (default 1).", HelpName = "N" };
        var command = new Command("report", "Write an HTML page on what quantization did to a model: error per tensor and layer, worst tensors, kernels, what stayed float, latency, size.")
        {
            floatModel, quantModel, output, count, skip, runs, threads,
        };
        foreach (var option in inputs.All) command.Options.Add(option);
        command.SetAction(parse =>
        {
            Run(parse.GetRequiredValue(floatModel), parse.GetRequiredValue(quantModel), parse.GetRequiredValue(output),
                parse.GetRequiredValue(inputs.Data),
                new ReportOptions
                {
                    Evaluation = new EvalOptions
                    {
                        Count = parse.GetValue(count) ?? 16, Skip = parse.GetValue(skip) ?? 0,
                        Shapes = inputs.Shapes(parse), Seed = parse.GetValue(inputs.Seed), Images = inputs.Images(parse),
                    },
                    BenchRuns = parse.GetValue(runs) ?? 20,
                    Threads = parse.GetValue(threads) ?? 1,
                },
                parse.InvocationConfiguration.Output);
            return ExitCodes.Success;
        });
        return command;
    }

    private static void Run(string floatPath, string quantPath, string output, string data, ReportOptions options, TextWriter stdout)
    {
        OutputPath.Check(output, "--out", floatPath, quantPath);
        var report = QuantizationReportBuilder.Build(floatPath, quantPath, data, options);
        string html = HtmlReportWriter.Write(report);
        string full = Path.GetFullPath(output), temp = full + ".tmp-" + Environment.ProcessId;
        try
        {
            File.WriteAllText(temp, html, new UTF8Encoding(false));
            File.Move(temp, full, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            try { File.Delete(temp); } catch (IOException) { }
            throw CliErrors.WriteFailed(output, e);
        }
        var worst = report.Layers.Where(l => l.SqnrDb is not null).OrderBy(l => l.SqnrDb).FirstOrDefault();
        stdout.WriteLine($"{report.Layers.Count} tensors, {report.Weights.Count} weights compared"
            + (worst is null ? "" : $"; worst tensor {worst.Tensor} at {worst.SqnrDb:F1} dB")
            + $"; {report.StayedFloat.Count} compute layers float. Wrote {output}.");
    }
}
