using System.Security.Cryptography;
using OnnxQuant.Cli;

namespace OnnxQuant.Fuzzing;

/// <summary>
/// Runs one case in this process (through <see cref="CliApp.Run"/>, as the <c>onnxquant</c> program would) in a folder
/// of its own, and judges it: exit code, message, stack traces, what was left on disk, whether the input changed.
/// Hangs and crashes are judged by the process that runs the worker (<see cref="FuzzCampaign"/>).
/// </summary>
public static class FuzzCaseRunner
{
    public const string ModelName = "model.onnx";
    public const string OutputName = "out.onnx";

    /// <summary>Writes the case's files into <paramref name="folder"/> (created) and returns the command line to run.</summary>
    public static string[] Prepare(FuzzCase c, string folder)
    {
        Directory.CreateDirectory(folder);
        File.WriteAllBytes(Path.Combine(folder, ModelName), c.Model);
        if (c.Base.DataFile is { } data)
        {
            var bytes = File.ReadAllBytes(data);
            File.WriteAllBytes(Path.Combine(folder, Path.GetFileName(data)), c.TruncateDataTo is int n ? bytes[..n] : bytes);
        }
        string model = Path.Combine(folder, ModelName), output = Path.Combine(folder, OutputName);
        return c.Command switch
        {
            "inspect" => ["inspect", model],
            "convert" => ["convert", model, output],
            "w8a8" => [model, output, "--recipe", "w8a8", .. c.Base.PipelineArguments!],
            // Test-only commands that misbehave on purpose (see Run), so the harness's own detection is tested.
            _ when c.Command.StartsWith("selftest-", StringComparison.Ordinal) => [],
            _ => throw new ArgumentException($"Unknown fuzz command '{c.Command}'."),
        };
    }

    /// <summary>Runs a prepared case and judges the result (not hangs or crashes).</summary>
    public static (FuzzOutcome Outcome, int ExitCode, string Detail) Run(FuzzCase c, string folder, string[] arguments)
    {
        var before = Snapshot(folder);
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code;
        switch (c.Command)
        {
            case "selftest-crash":
                Environment.FailFast("fuzz self-test: a crash");
                return default;
            case "selftest-hang":
                Thread.Sleep(Timeout.Infinite);
                return default;
            case "selftest-internal":
                code = 70;
                stderr.WriteLine("internal error: NullReferenceException: Object reference not set to an instance of an object.");
                break;
            case "selftest-trace":
                code = 2;
                stderr.WriteLine("error: something\n   at OnnxQuant.Somewhere()");
                break;
            case "selftest-partial":
                File.WriteAllText(Path.Combine(folder, OutputName), "half");
                code = 2;
                stderr.WriteLine("error: something went wrong");
                break;
            default:
                code = CliApp.Run(arguments, stdout, stderr);
                break;
        }
        string error = stderr.ToString();
        string firstLine = error.Split('\n')[0];
        var after = Snapshot(folder);
        var changed = before.Where(kv => !after.TryGetValue(kv.Key, out var h) || h != kv.Value).Select(kv => kv.Key).ToList();
        var added = after.Keys.Except(before.Keys).ToList();

        if (changed.Count > 0) return (FuzzOutcome.InputChanged, code, $"changed: {string.Join(", ", changed)}");
        if (error.Contains("   at ", StringComparison.Ordinal) || error.Contains("Unhandled exception", StringComparison.Ordinal))
            return (FuzzOutcome.StackTrace, code, Shorten(error));
        if (code == 0)
        {
            // A success writes the output (and maybe its data file) and nothing else.
            var stray = added.Where(f => !f.StartsWith(OutputName, StringComparison.Ordinal)).ToList();
            return stray.Count > 0 ? (FuzzOutcome.PartialOutput, code, $"left behind: {string.Join(", ", stray)}") : (FuzzOutcome.Accepted, code, "");
        }
        if (code is not (1 or 2 or 3)) return (FuzzOutcome.InternalError, code, Shorten(error));
        if (added.Count > 0) return (FuzzOutcome.PartialOutput, code, $"left behind: {string.Join(", ", added)}; {Shorten(firstLine)}");
        if (!firstLine.StartsWith("error:", StringComparison.Ordinal) || firstLine.Trim().Length <= "error:".Length)
            return (FuzzOutcome.NoMessage, code, Shorten(error));
        return (FuzzOutcome.CleanError, code, Shorten(firstLine));
    }

    private static Dictionary<string, string> Snapshot(string folder) =>
        Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
            .ToDictionary(f => Path.GetRelativePath(folder, f), f => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(f))), StringComparer.Ordinal);

    private static string Shorten(string s)
    {
        s = s.Replace('\t', ' ').Replace('\r', ' ').Replace('\n', ' ').Trim();
        return s.Length > 300 ? s[..300] + "…" : s;
    }
}
