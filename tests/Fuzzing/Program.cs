using System.Globalization;
using OnnxQuant.Fuzzing;

// The fuzzing harness (issue 16): mutated real models through onnxquant's inspect, convert and w8a8 pipeline.
//   dotnet run -c Release --project tests/Fuzzing -- [--count 10000] [--seed 1] [--from 0] [--commands inspect,convert,w8a8]
//       [--timeout 60] [--models ../shared/models] [--scratch DIR] [--keep] [--list (every case, not only failures)]
// Prints a summary and every failure (crash, hang, internal error, stack trace, missing message, partial output,
// changed input) with the case id, the model, the mutation and the command; exit 1 when any case failed.
// One case again: --from ID --count 1 --keep --scratch DIR (its files stay in DIR/case-ID).
var options = new Dictionary<string, string>(StringComparer.Ordinal);
bool worker = false, keep = false, list = false;
for (int i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "-h" or "--help":
            Console.WriteLine("Options: --count N --seed S --from ID --commands inspect,convert,w8a8 --timeout SECONDS --models DIR --scratch DIR --keep --list");
            return 0;
        case "--worker": worker = true; break;
        case "--keep": keep = true; break;
        case "--list": list = true; break;
        default:
            if (args[i].StartsWith("--", StringComparison.Ordinal) && i + 1 < args.Length) options[args[i]] = args[++i];
            else
            {
                Console.Error.WriteLine($"Unknown argument '{args[i]}' (see --help).");
                return 2;
            }
            break;
    }
}
string Get(string name, string fallback) => options.GetValueOrDefault(name) ?? fallback;
string scratch = Get("--scratch", Path.Combine(Path.GetTempPath(), $"onnxquant-fuzz-{Environment.ProcessId}"));
Directory.CreateDirectory(scratch);
var commands = Get("--commands", string.Join(",", FuzzCase.Commands)).Split(',', StringSplitOptions.RemoveEmptyEntries);
var fuzz = new FuzzOptions
{
    Seed = int.Parse(Get("--seed", "1"), CultureInfo.InvariantCulture),
    From = long.Parse(Get("--from", "0"), CultureInfo.InvariantCulture),
    Count = long.Parse(Get("--count", "10000"), CultureInfo.InvariantCulture),
    Commands = commands,
    TimeoutSeconds = double.Parse(Get("--timeout", "60"), CultureInfo.InvariantCulture),
    ModelsFolder = Path.GetFullPath(Get("--models", Path.Combine(RepoRoot(), "..", "shared", "models"))),
    ScratchFolder = scratch,
    Keep = keep,
    WorkerCommand = WorkerCommand(),
};
if (worker) return FuzzCampaign.Worker(fuzz);

var clock = System.Diagnostics.Stopwatch.StartNew();
long done = 0;
var results = FuzzCampaign.Run(fuzz, r =>
{
    if (++done % 500 == 0) Console.WriteLine($"  {done} cases, {clock.Elapsed.TotalMinutes:F1} min");
    if (list && r.Outcome.Passes()) Console.WriteLine($"  case {r.Id} [{r.Outcome}] {r.Command} on {r.Base}: {r.Description}: {r.Detail}");
    if (!r.Outcome.Passes()) Console.WriteLine($"  FAIL case {r.Id} [{r.Outcome}] {r.Command} on {r.Base}: {r.Description}: {r.Detail}");
});
Console.WriteLine(FuzzCampaign.Summary(results));
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Seed {fuzz.Seed}, cases {fuzz.From}–{fuzz.From + fuzz.Count - 1}, {clock.Elapsed.TotalMinutes:F1} min."));
if (!keep) Directory.Delete(scratch, recursive: true);
return results.Any(r => !r.Outcome.Passes()) ? 1 : 0;

// This program again, as a worker: through the dotnet host when it runs as `dotnet OnnxQuant.Fuzzing.dll`.
static string[] WorkerCommand()
{
    string process = Environment.ProcessPath!;
    string dll = typeof(FuzzCampaign).Assembly.Location;
    return Path.GetFileNameWithoutExtension(process) == "dotnet" ? [process, dll] : [process];
}

static string RepoRoot()
{
    for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        if (File.Exists(Path.Combine(dir.FullName, "OnnxQuant.sln"))) return dir.FullName;
    return Directory.GetCurrentDirectory();
}
