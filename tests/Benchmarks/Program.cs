using System.Globalization;
using OnnxQuant.Benchmarks;
using OnnxQuant.Passes.Calibration;
using OnnxQuant.Passes.Calibration.Ranges;

// Calibration throughput as a ratio to plain inference on the same samples (issue 4's goal: >= 0.5x), run by hand:
//   dotnet run -c Release --project tests/Benchmarks -- [--model PATH] [--data PATH] [--method minmax|percentile|entropy|mse|all]
//       [--batch-size N] [--count N] [--rounds N] [--all-tensors] [--overlap|--no-overlap]
// Defaults: ../shared/models/vit_mnist.onnx, ../shared/data/mnist/calib_256.npy, every method, batches of 1, 3 rounds.
// auto-precision's kernel cost table: dotnet run -c Release --project tests/Benchmarks -- --kernel-costs OUT [--threads 2] [--runs 30]
if (args.Length >= 2 && args[0] == "--kernel-costs")
{
    int Arg(string name, int fallback) => Array.IndexOf(args, name) is int i and >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
    return KernelCostTable.Run(args[1], Arg("--threads", 2), Arg("--runs", 30));
}
// GPTQ on one synthetic layer (row tiles 1 vs 16, refit):
//   dotnet run -c Release --project tests/Benchmarks -- gptq ROWS K [ROUNDS]
if (args.Length >= 3 && args[0] == "gptq")
{
    GptqBenchmark.Run(int.Parse(args[1], CultureInfo.InvariantCulture), int.Parse(args[2], CultureInfo.InvariantCulture),
        args.Length > 3 ? int.Parse(args[3], CultureInfo.InvariantCulture) : 3);
    return 0;
}
// GPTQ's hot loops before/after (XᵀX accumulation, lazy batch update), CPU seconds:
//   dotnet run -c Release --project tests/Benchmarks -- gptq-kernels K [ROUNDS]
if (args.Length >= 2 && args[0] == "gptq-kernels")
{
    GptqKernelsBenchmark.Run(int.Parse(args[1], CultureInfo.InvariantCulture), args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 3);
    return 0;
}
// GEMM kernels (float, ORT int8 QDQ, MatMulNBits, OnnxQuant's MatMulW8A8/MatMulW4A8), a Markdown table:
//   dotnet run -c Release --project tests/Benchmarks -- gemm [--threads 2] [--rounds 10] [--shape MxKxN ...]
if (args.Length > 0 && args[0] == "gemm")
{
    int threads = 2, gemmRounds = 10;
    var shapes = new List<(int M, int K, int N)>();
    for (int i = 1; i + 1 < args.Length; i += 2)
    {
        switch (args[i])
        {
            case "--threads": threads = int.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
            case "--rounds": gemmRounds = int.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
            case "--shape":
                var d = args[i + 1].Split('x').Select(v => int.Parse(v, CultureInfo.InvariantCulture)).ToArray();
                shapes.Add((d[0], d[1], d[2]));
                break;
            default:
                Console.Error.WriteLine($"Unknown gemm argument '{args[i]}' (--threads N, --rounds N, --shape MxKxN).");
                return 2;
        }
    }
    GemmBenchmark.Run(threads, gemmRounds, shapes.Count > 0 ? shapes : GemmBenchmark.DefaultShapes);
    return 0;
}
// BcqMatMul vs float MatMul and the unfolded standard GPTQT export at decode shapes:
//   dotnet run -c Release --project tests/Benchmarks -- bcq [--threads 2] [--rounds 10]
if (args.Length > 0 && args[0] == "bcq")
{
    int Arg(string name, int fallback) => Array.IndexOf(args, name) is int i and >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
    BcqBenchmark.Run(Arg("--threads", 2), Arg("--rounds", 10), BcqBenchmark.DefaultShapes);
    return 0;
}
// RepQ's log2 attention times V: Log2AttnMatMul vs its float decomposition at ViT-B shapes (12 heads, 197 tokens):
//   dotnet run -c Release --project tests/Benchmarks -- log2-attn [--threads 2] [--rounds 20] [--bits 4 --bits 8]
if (args.Length > 0 && args[0] == "log2-attn")
{
    int threads = 2, log2Rounds = 20;
    var widths = new List<int>();
    for (int i = 1; i + 1 < args.Length; i += 2)
    {
        switch (args[i])
        {
            case "--threads": threads = int.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
            case "--rounds": log2Rounds = int.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
            case "--bits": widths.Add(int.Parse(args[i + 1], CultureInfo.InvariantCulture)); break;
            default:
                Console.Error.WriteLine($"Unknown log2-attn argument '{args[i]}' (--threads N, --rounds N, --bits B).");
                return 2;
        }
    }
    Log2AttnBenchmark.Run(threads, log2Rounds, widths.Count > 0 ? widths : [4, 6, 8]);
    return 0;
}
var options = new Dictionary<string, string>(StringComparer.Ordinal);
var flags = new HashSet<string>(StringComparer.Ordinal);
for (int i = 0; i < args.Length; i++)
{
    if (args[i] is "-h" or "--help")
    {
        Console.WriteLine("Options: --model PATH --data PATH --method minmax|percentile|entropy|mse|all --batch-size N --count N --rounds N --all-tensors --overlap|--no-overlap");
        return 0;
    }
    if (args[i] is "--all-tensors" or "--no-overlap" or "--overlap") flags.Add(args[i]);
    else if (args[i].StartsWith("--", StringComparison.Ordinal) && i + 1 < args.Length) options[args[i]] = args[++i];
    else
    {
        Console.Error.WriteLine($"Unknown argument '{args[i]}' (see --help).");
        return 2;
    }
}
string shared = Path.Combine(RepoRoot(), "..", "shared");
string model = options.GetValueOrDefault("--model") ?? Path.Combine(shared, "models", "vit_mnist.onnx");
string data = options.GetValueOrDefault("--data") ?? Path.Combine(shared, "data", "mnist", "calib_256.npy");
string method = options.GetValueOrDefault("--method") ?? "all";
var methods = method == "all" ? Enum.GetValues<CalibrationMethod>() : [Enum.Parse<CalibrationMethod>(method, ignoreCase: true)];
int Int(string name, int fallback) => options.TryGetValue(name, out var v) ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;
var benchmark = new CalibrationThroughput(model, data, Int("--batch-size", 1), options.ContainsKey("--count") ? Int("--count", 0) : null,
    flags.Contains("--all-tensors") ? CalibrationScope.All : CalibrationScope.Quantizer,
    flags.Contains("--overlap") ? true : flags.Contains("--no-overlap") ? false : null);
int rounds = Int("--rounds", 3);
Console.WriteLine($"{Path.GetFileName(model)} on {benchmark.Samples} samples of {Path.GetFileName(data)}, batches of {benchmark.BatchSize}, {rounds} rounds; "
    + $"after a warm-up, each round times plain inference, then calibration (session creation included in both).");
benchmark.Round(methods[0], warmUp: true);
foreach (var m in methods)
{
    var ratios = new List<double>();
    var cpuRatios = new List<double>();
    for (int r = 0; r < rounds; r++)
    {
        var (plain, calibration, plainCpu, calibrationCpu) = benchmark.Round(m);
        ratios.Add(calibration / plain);
        cpuRatios.Add(calibrationCpu / plainCpu);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  {m.ToString().ToLowerInvariant(),-10} round {r + 1}: plain {plain:F1} samples/s, calibration {calibration:F1} samples/s, {calibration / plain:F2}x; per CPU second {calibrationCpu / plainCpu:F2}x"));
    }
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"{m.ToString().ToLowerInvariant(),-10} ratio: {Summary(ratios)}; per CPU second {Summary(cpuRatios)}"));
}
return 0;

// Lower median (conservative with an even count) and range.
static string Summary(List<double> ratios)
{
    ratios.Sort();
    return string.Create(CultureInfo.InvariantCulture, $"median {ratios[(ratios.Count - 1) / 2]:F2}x, range {ratios[0]:F2}-{ratios[^1]:F2}x");
}

static string RepoRoot()
{
    for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        if (File.Exists(Path.Combine(dir.FullName, "OnnxQuant.sln"))) return dir.FullName;
    throw new InvalidOperationException("Cannot find OnnxQuant.sln above the benchmark's binaries.");
}
