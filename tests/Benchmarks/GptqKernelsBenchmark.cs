using System.Diagnostics;
using System.Globalization;
using System.Numerics;
using System.Numerics.Tensors;
using OnnxQuant.Passes.Quantization.Rounding;
using OnnxQuant.Runtime.Calibration.Statistics;

namespace OnnxQuant.Benchmarks;

/// <summary>
/// GPTQ's two hot loops before and after their rewrite, interleaved, in process CPU seconds (one thread, so a busy
/// machine's load shows in wall time but hardly in these): Σxxᵀ of 128 rows (one 128-token sample) at K, as rank-1
/// updates (the old form, copied here) and as <see cref="SecondMomentStatistic.Add"/>'s blocked update; and GPTQ's
/// lazy batch update of a 16-row tile over a whole K (the old axpy form against <see cref="GptqLazyBatchUpdate"/>).
///   dotnet run -c Release --project tests/Benchmarks -- gptq-kernels K [ROUNDS]
/// </summary>
public static class GptqKernelsBenchmark
{
    public static void Run(int k, int rounds)
    {
        var random = new Random(1);
        const int rows = 128;
        var x = Enumerable.Range(0, rows * k).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        var u = Enumerable.Range(0, k * k).Select(_ => random.NextDouble() * 0.01).ToArray();
        const int tile = 16, block = 128;
        double[][] w = Enumerable.Range(0, tile).Select(_ => Enumerable.Range(0, k).Select(_ => random.NextDouble()).ToArray()).ToArray();
        double[][] e = Enumerable.Range(0, tile).Select(_ => Enumerable.Range(0, block).Select(_ => random.NextDouble()).ToArray()).ToArray();
        var times = new Dictionary<string, List<double>> { ["xtx rank-1"] = [], ["xtx blocked"] = [], ["sweep axpy"] = [], ["sweep blocked"] = [] };
        for (int round = 0; round < rounds; round++)
        {
            times["xtx rank-1"].Add(Cpu(() => RankOne(x, k)));
            times["xtx blocked"].Add(Cpu(() => new SecondMomentStatistic(k).Add(x)));
            times["sweep axpy"].Add(Cpu(() => { for (int s = 0; s + block < k; s += block) Axpy(w, e, u, k, s, s + block); }));
            times["sweep blocked"].Add(Cpu(() => { for (int s = 0; s + block < k; s += block) GptqLazyBatchUpdate.Apply(w, e, u, k, s, s + block); }));
        }
        Console.WriteLine($"K = {k}: CPU seconds, median of {rounds} interleaved rounds");
        foreach (var (name, list) in times)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {name,-14} {list.Order().ElementAt(list.Count / 2),8:F3} s"));
    }

    private static double Cpu(Action action)
    {
        var before = Process.GetCurrentProcess().TotalProcessorTime;
        action();
        return (Process.GetCurrentProcess().TotalProcessorTime - before).TotalSeconds;
    }

    // SecondMomentStatistic.Add before the blocked update: one rank-1 update of the packed triangle per row.
    private static void RankOne(float[] values, int k)
    {
        var upper = new double[(long)k * (k + 1) / 2];
        var row = new double[k];
        for (int r = 0; r < values.Length; r += k)
        {
            for (int i = 0; i < k; i++) row[i] = values[r + i];
            long start = 0;
            for (int i = 0; i < k; i++)
            {
                double xi = row[i];
                if (xi != 0)
                {
                    var target = upper.AsSpan((int)start, k - i);
                    TensorPrimitives.MultiplyAdd(row.AsSpan(i), xi, target, target);
                }
                start += k - i;
            }
        }
    }

    // GptqRounder's update of the later columns before GptqLazyBatchUpdate: one axpy per block column and row.
    private static void Axpy(double[][] w, double[][] errors, double[] u, int k, int start, int end)
    {
        for (int j = start; j < end; j++)
        {
            var source = u.AsSpan(j * k + end, k - end);
            for (int t = 0; t < w.Length; t++)
            {
                var target = w[t].AsSpan(end);
                double factor = errors[t][j - start];
                int i = 0;
                var f = new Vector<double>(factor);
                for (; i <= target.Length - Vector<double>.Count; i += Vector<double>.Count)
                    (new Vector<double>(target[i..]) - f * new Vector<double>(source[i..])).CopyTo(target[i..]);
                for (; i < target.Length; i++) target[i] -= factor * source[i];
            }
        }
    }
}
