using System.Diagnostics;
using System.Globalization;
using System.Text;
using OnnxQuant.Cli;

namespace OnnxQuant.Fuzzing;

/// <summary>How a campaign is run.</summary>
public sealed record FuzzOptions
{
    public int Seed { get; init; } = 1;
    public long From { get; init; }
    public long Count { get; init; } = 100;
    public IReadOnlyList<string> Commands { get; init; } = ["inspect", "convert"];

    /// <summary>Seconds one case may take before it counts as a hang.</summary>
    public double TimeoutSeconds { get; init; } = 30;

    /// <summary>The real models to mutate are read from here (../shared/models).</summary>
    public required string ModelsFolder { get; init; }

    /// <summary>Where case folders go (each deleted after its case unless <see cref="Keep"/>).</summary>
    public required string ScratchFolder { get; init; }

    public bool Keep { get; init; }

    /// <summary>How to start a worker: the program and its first arguments (e.g. dotnet and OnnxQuant.Fuzzing.dll).</summary>
    public required IReadOnlyList<string> WorkerCommand { get; init; }
}

/// <summary>One judged case of a campaign.</summary>
public sealed record FuzzResult(long Id, FuzzOutcome Outcome, int ExitCode, string Command, string Base, string Description, string Detail);

/// <summary>
/// Runs fuzz cases in worker processes (this program with <c>--worker</c>), so a crash or hang costs one case and a
/// restart, never the campaign: a worker announces each case before running it and reports it after; a worker that
/// dies mid-case is a crash of that case, one that goes quiet past the time limit is killed and the case is a hang.
/// Inside a worker the cases run in-process through <see cref="CliApp.Run"/>, so ten thousand cases cost ten
/// thousand command runs, not ten thousand process starts.
/// </summary>
public static class FuzzCampaign
{
    private const string Begin = "@@fuzz-begin ";
    private const string Result = "@@fuzz-result ";

    public static IReadOnlyList<FuzzResult> Run(FuzzOptions options, Action<FuzzResult>? progress = null)
    {
        var results = new List<FuzzResult>();
        long next = options.From, end = options.From + options.Count;
        int restarts = 0;
        while (next < end)
        {
            var (reported, unfinished, stderrTail, exitCode, killed) = RunWorker(options, next, end, progress, results);
            if (unfinished is long id)
            {
                var c = MakeCase(options, id, LoadBases(options.ModelsFolder, options.ScratchFolder, needDataFile: true));
                var outcome = killed ? FuzzOutcome.Hang : FuzzOutcome.Crash;
                string detail = killed ? $"no result within {options.TimeoutSeconds} s" : $"worker exit {exitCode}: {stderrTail}";
                var r = new FuzzResult(id, outcome, exitCode, c.Command, c.Base.Name, c.Description, detail);
                results.Add(r);
                progress?.Invoke(r);
                next = id + 1;
            }
            else if (reported is long last) next = last + 1;
            if (reported is null && unfinished is null)
                throw new InvalidOperationException($"A fuzz worker ran no case (exit {exitCode}): {stderrTail}");
            if (++restarts > options.Count + 10) throw new InvalidOperationException("Fuzz workers keep failing to start.");
        }
        return results;
    }

    /// <summary>Runs one worker from case <paramref name="from"/> until it ends or dies; returns the last case it
    /// reported, the case it began and did not report (if it died or hung), its stderr's tail and exit code.</summary>
    private static (long? Reported, long? Unfinished, string StderrTail, int ExitCode, bool Killed) RunWorker(
        FuzzOptions options, long from, long end, Action<FuzzResult>? progress, List<FuzzResult> results)
    {
        var start = new ProcessStartInfo(options.WorkerCommand[0])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
        };
        foreach (string a in options.WorkerCommand.Skip(1)) start.ArgumentList.Add(a);
        string[] args = ["--worker", "--seed", Text(options.Seed), "--from", Text(from), "--count", Text(end - from),
            "--commands", string.Join(",", options.Commands), "--timeout", Text(options.TimeoutSeconds),
            "--models", options.ModelsFolder, "--scratch", options.ScratchFolder];
        foreach (string a in args) start.ArgumentList.Add(a);
        if (options.Keep) start.ArgumentList.Add("--keep");

        using var process = Process.Start(start)!;
        var stderr = new StringBuilder();
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (stderr)
            {
                stderr.AppendLine(e.Data);
                if (stderr.Length > 8000) stderr.Remove(0, stderr.Length - 4000);
            }
        };
        process.BeginErrorReadLine();
        long? begun = null, reported = null;
        bool killed = false;
        // The worker enforces the per-case limit itself; this outer limit catches a worker too stuck to do so.
        var quiet = TimeSpan.FromSeconds(options.TimeoutSeconds * 2 + 60);
        while (true)
        {
            var read = process.StandardOutput.ReadLineAsync();
            if (!read.Wait(quiet))
            {
                killed = true;
                try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
                break;
            }
            string? line = read.Result;
            if (line is null) break;
            if (line.StartsWith(Begin, StringComparison.Ordinal)) begun = long.Parse(line[Begin.Length..], CultureInfo.InvariantCulture);
            else if (line.StartsWith(Result, StringComparison.Ordinal))
            {
                var r = Parse(line[Result.Length..]);
                results.Add(r);
                progress?.Invoke(r);
                reported = r.Id;
                if (r.Outcome == FuzzOutcome.Hang) killed = false;
            }
        }
        process.WaitForExit();
        string tail;
        lock (stderr) tail = stderr.ToString().Trim().Replace('\n', ' ');
        if (tail.Length > 500) tail = "…" + tail[^500..];
        long? unfinished = begun is long b && b != reported ? b : null;
        return (reported, unfinished, tail, killed ? -1 : process.ExitCode, killed);
    }

    /// <summary>The worker: runs cases [from, from + count) in this process and reports each on stdout.</summary>
    public static int Worker(FuzzOptions options)
    {
        var bases = LoadBases(options.ModelsFolder, options.ScratchFolder, needDataFile: true);
        var stdout = Console.Out;
        for (long id = options.From; id < options.From + options.Count; id++)
        {
            var c = FuzzCase.Make(options.Seed, id, bases, options.Commands);
            string folder = Path.Combine(options.ScratchFolder, $"case-{id}");
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
            string[] arguments = FuzzCaseRunner.Prepare(c, folder);
            stdout.WriteLine(Begin + Text(id));
            stdout.Flush();
            var run = Task.Factory.StartNew(() => FuzzCaseRunner.Run(c, folder, arguments), TaskCreationOptions.LongRunning);
            if (!run.Wait(TimeSpan.FromSeconds(options.TimeoutSeconds)))
            {
                // The stuck thread cannot be stopped: report the hang and end; the campaign starts a new worker.
                stdout.WriteLine(Result + Format(new FuzzResult(id, FuzzOutcome.Hang, -1, c.Command, c.Base.Name, c.Description, $"no result within {options.TimeoutSeconds} s")));
                stdout.Flush();
                Environment.Exit(0);
            }
            var (outcome, code, detail) = run.Result;
            stdout.WriteLine(Result + Format(new FuzzResult(id, outcome, code, c.Command, c.Base.Name, c.Description, detail)));
            stdout.Flush();
            if (!options.Keep) Directory.Delete(folder, recursive: true);
        }
        return 0;
    }

    /// <summary>
    /// The real models mutated: the shared models (structure of every kind: a ViT, a language model, a recognizer with
    /// Constant-node weights, a VAD with If subgraphs, a VAE decoder, a DiT), plus vit_mnist converted to external data
    /// (so the external-data entries and the data file can be damaged). Only small, fast models take part in the
    /// pipeline cases.
    /// </summary>
    public static List<FuzzBase> LoadBases(string modelsFolder, string scratchFolder, bool needDataFile)
    {
        var bases = new List<FuzzBase>();
        void Add(string file, string[]? pipeline)
        {
            string path = Path.Combine(modelsFolder, file);
            if (File.Exists(path)) bases.Add(new FuzzBase(Path.GetFileNameWithoutExtension(file), File.ReadAllBytes(path), null, pipeline));
        }
        string[] random = ["--data", "random", "--count", "2", "--seed", "1"];
        Add("vit_mnist.onnx", random);
        Add("stories260k.onnx", [.. random, "--shape", "input_ids=1,8"]);
        Add("silero_vad_legacy.onnx", null);
        Add("ppocr_v4_rec.onnx", null);
        Add("taef2_decoder.onnx", null);
        Add("dit_mnist.onnx", null);
        if (bases.Count == 0) throw new InvalidOperationException($"No models to fuzz in {modelsFolder} (expected the shared models).");
        if (needDataFile && File.Exists(Path.Combine(modelsFolder, "vit_mnist.onnx")))
        {
            // Made once per scratch folder (workers run one at a time); every later worker finds it there.
            string folder = Path.Combine(scratchFolder, "external-base");
            string model = Path.Combine(folder, "vit_ext.onnx"), data = model + ".data";
            if (!File.Exists(model) || !File.Exists(data))
            {
                if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
                Directory.CreateDirectory(folder);
                int code = CliApp.Run(["convert", Path.Combine(modelsFolder, "vit_mnist.onnx"), model, "--external-data"], TextWriter.Null, TextWriter.Null);
                if (code != 0) throw new InvalidOperationException("Could not make the external-data base model.");
            }
            bases.Add(new FuzzBase("vit_mnist (external data)", File.ReadAllBytes(model), data, random));
        }
        return bases;
    }

    private static FuzzCase MakeCase(FuzzOptions options, long id, List<FuzzBase> bases) => FuzzCase.Make(options.Seed, id, bases, options.Commands);

    /// <summary>"N cases: … accepted, … clean errors, … failures (…)" and the failures, one line each.</summary>
    public static string Summary(IReadOnlyList<FuzzResult> results)
    {
        var sb = new StringBuilder();
        int failures = results.Count(r => !r.Outcome.Passes());
        sb.Append(CultureInfo.InvariantCulture, $"{results.Count} cases: {results.Count(r => r.Outcome == FuzzOutcome.Accepted)} accepted, ");
        sb.Append(CultureInfo.InvariantCulture, $"{results.Count(r => r.Outcome == FuzzOutcome.CleanError)} clean errors, {failures} failures");
        var kinds = results.Where(r => !r.Outcome.Passes()).GroupBy(r => r.Outcome).Select(g => $"{g.Key}: {g.Count()}").ToList();
        if (kinds.Count > 0) sb.Append(" (").Append(string.Join(", ", kinds)).Append(')');
        sb.AppendLine(".");
        foreach (var g in results.GroupBy(r => r.Command).OrderBy(g => g.Key, StringComparer.Ordinal))
            sb.AppendLine(CultureInfo.InvariantCulture, $"  {g.Key}: {g.Count()} cases, {g.Count(r => r.Outcome == FuzzOutcome.Accepted)} accepted, {g.Count(r => !r.Outcome.Passes())} failures");
        foreach (var r in results.Where(r => !r.Outcome.Passes()))
            sb.AppendLine(CultureInfo.InvariantCulture, $"  FAIL case {r.Id} [{r.Outcome}] {r.Command} on {r.Base} ({r.Description}): exit {r.ExitCode}, {r.Detail}");
        return sb.ToString();
    }

    private static string Text(long v) => v.ToString(CultureInfo.InvariantCulture);
    private static string Text(double v) => v.ToString("R", CultureInfo.InvariantCulture);

    private static string Escape(string s) => s.Replace("\\", "\\\\").Replace("\t", "\\t").Replace("\n", "\\n").Replace("\r", "\\r");

    private static string Unescape(string s)
    {
        var sb = new StringBuilder(s.Length);
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] != '\\' || i + 1 == s.Length) { sb.Append(s[i]); continue; }
            char c = s[++i];
            sb.Append(c switch { 't' => '\t', 'n' => '\n', 'r' => '\r', _ => c });
        }
        return sb.ToString();
    }

    private static string Format(FuzzResult r) =>
        string.Join('\t', Text(r.Id), r.Outcome.ToString(), Text(r.ExitCode), r.Command, Escape(r.Base), Escape(r.Description), Escape(r.Detail));

    private static FuzzResult Parse(string line)
    {
        var f = line.Split('\t');
        return new FuzzResult(long.Parse(f[0], CultureInfo.InvariantCulture), Enum.Parse<FuzzOutcome>(f[1]), int.Parse(f[2], CultureInfo.InvariantCulture),
            f[3], Unescape(f[4]), Unescape(f[5]), Unescape(f[6]));
    }
}
