using System.CommandLine;
using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Runtime.Calibration.Statistics;

namespace OnnxQuant.Cli.Commands;

/// <summary>
/// <c>onnxquant merge-stats A.json B.json … --out all.json</c>: joins the statistics files of
/// <c>calibrate --shard i/n</c> (run on many machines) into one, equal to a single run's file (see
/// <see cref="ShardMerge"/>). The output is written to a temporary file and renamed, and never replaces an input.
/// </summary>
public static class MergeStatsCommand
{
    public static Command Create()
    {
        var files = new Argument<string[]>("STATS") { Description = "The statistics files to merge (the shards of one run, in any order).", Arity = ArgumentArity.OneOrMore };
        var output = new Option<string>("--out", "-o") { Description = "Where to write the merged statistics (JSON).", Required = true, HelpName = "STATS" };
        var command = new Command("merge-stats", "Merge the statistics files of calibrate --shard runs into one.") { files, output };
        command.SetAction(parse =>
        {
            Run(parse.GetRequiredValue(files), parse.GetRequiredValue(output), parse.InvocationConfiguration.Output);
            return ExitCodes.Success;
        });
        return command;
    }

    private static void Run(string[] paths, string output, TextWriter stdout)
    {
        OutputPath.Check(output, "--out", paths);
        var loaded = new List<(string, CalibrationStatistics)>();
        foreach (string path in paths)
        {
            if (!File.Exists(path)) throw new OnnxQuantException($"merge-stats: {path} does not exist.");
            loaded.Add((path, CalibrationStatistics.Load(path)));
        }
        var merged = ShardMerge.Merge(loaded);
        try { merged.Save(output); }
        catch (OnnxQuantException e) { throw CliErrors.WriteFailed(output, e.InnerException ?? e); }
        stdout.WriteLine($"Merged {paths.Length} file(s): {merged.Count} tensors, {merged.Samples} samples. Wrote {output}.");
    }
}
