using System.Diagnostics;
using System.Globalization;
using OnnxQuant.Ir;
using OnnxQuant.Passes.Quantization.Rounding;

namespace OnnxQuant.Benchmarks;

/// <summary>
/// GPTQ's rounding of one layer (Hessian preparation with its Cholesky factorizations, then the column sweep) on a
/// synthetic layer: seconds per call for GPTQ row tiles of 1 (the per-row sweep) and 16, interleaved, and the least-
/// squares scale refit's extra time. The generated Llama's projections are 2048×2048, 2048×512, 2048×5632 and 5632×2048.
/// </summary>
public static class GptqBenchmark
{
    public static void Run(int rows, int k, int rounds)
    {
        var random = new Random(1);
        var w = Enumerable.Range(0, rows * k).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        // H = F·Fᵀ/32 + diag: correlated and positive definite, cheap to form at any K.
        const int factors = 32;
        var f = Enumerable.Range(0, k * factors).Select(_ => random.NextDouble() * 2 - 1).ToArray();
        var h = new double[(long)k * k];
        Parallel.For(0, k, i =>
        {
            for (int j = 0; j < k; j++)
            {
                double sum = 0;
                for (int t = 0; t < factors; t++) sum += f[i * factors + t] * f[j * factors + t];
                h[(long)i * k + j] = sum / factors + (i == j ? 0.1 + i % 7 * 0.05 : 0);
            }
        });
        var grid = new WeightGrid(4, WeightScaleRule.Asymmetric, 32, false, DataType.Float);
        if (Environment.GetEnvironmentVariable("GPTQ_PHASES") == "1")
        {
            Phases(w, rows, k, grid, h);
            return;
        }
        var settings = new Dictionary<string, GptqSettings>
        {
            ["tile 1"] = new(ActOrder: true, RowTile: 1),
            ["tile 16"] = new(ActOrder: true),
            ["tile 16 + refit"] = new(ActOrder: true, RefitScales: true),
        };
        var seconds = settings.Keys.ToDictionary(name => name, _ => new List<double>());
        for (int round = 0; round < rounds; round++)
            foreach (var (name, s) in settings)
            {
                var clock = Stopwatch.StartNew();
                GptqRounder.RoundWithHessian(w, rows, k, grid, h, s);
                seconds[name].Add(clock.Elapsed.TotalSeconds);
            }
        Console.WriteLine($"GPTQ {rows} rows × K = {k} (int4 g32 asymmetric, act-order), median of {rounds}:");
        foreach (var (name, list) in seconds)
        {
            double median = list.Order().ElementAt(list.Count / 2);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {name,-16} {median,8:F2} s  ({median / (rows * (double)k / 1e6):F3} s per million weights)"));
        }
    }

    // Wall and process CPU seconds of the phases: Hessian preparation (Cholesky of the inverse), the sweep, the refit.
    private static void Phases(float[] w, int rows, int k, WeightGrid grid, double[] h)
    {
        var process = Process.GetCurrentProcess();
        (double Wall, double Cpu) Time(Action action)
        {
            process.Refresh();
            var cpu = process.TotalProcessorTime;
            var clock = Stopwatch.StartNew();
            action();
            process.Refresh();
            return (clock.Elapsed.TotalSeconds, (process.TotalProcessorTime - cpu).TotalSeconds);
        }
        var prepare = Time(() => GptqHessian.Prepare(w, rows, h, k, true, 0.01));
        var sweep = Time(() => GptqRounder.RoundWithHessian(w, rows, k, grid, h, new GptqSettings(ActOrder: true)));
        var refit = Time(() => GptqRounder.RoundWithHessian(w, rows, k, grid, h, new GptqSettings(ActOrder: true, RefitScales: true)));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"GPTQ phases {rows}×{k}: prepare {prepare.Wall:F1} s wall / {prepare.Cpu:F1} s CPU; prepare+sweep {sweep.Wall:F1} / {sweep.Cpu:F1}; prepare+sweep+refit {refit.Wall:F1} / {refit.Cpu:F1}"));
    }
}
