using System.Diagnostics;
using System.Globalization;
using OnnxQuant.Ir;
using OnnxQuant.Ir.Building;
using OnnxQuant.Runtime;
using OnnxQuant.Runtime.Kernels;

namespace OnnxQuant.Benchmarks;

/// <summary>
/// One GEMM y[M,N] = a[M,K]·W[K,N] as five one-node models, timed interleaved in ONNX Runtime (all graph
/// optimizations on, the given threads, spinning off, as <c>bench</c> runs models): float MatMul; ORT's int8 QDQ
/// (fused by ORT into MatMulIntegerToFloat: uint8 per-tensor static activations, int8 per-column weights); ORT's
/// MatMulNBits int4 g32 at accuracy level 4 (int8 activations per block); OnnxQuant's MatMulW8A8 and MatMulW4A8
/// (int4 g32) with per-token int8 activations. GOP/s counts 2·M·N·K; the VNNI peak assumed is 64 int8 multiply-adds
/// per cycle per thread (one 512-bit vpdpbusd) at the clock /proc/cpuinfo reports.
/// </summary>
internal static class GemmBenchmark
{
    public static readonly (int M, int K, int N)[] DefaultShapes = [(197, 768, 3072), (197, 3072, 768), (1, 2048, 8192), (512, 4096, 4096)];

    public static void Run(int threads, int rounds, IReadOnlyList<(int M, int K, int N)> shapes)
    {
        double mhz = CpuMhz();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"ONNX Runtime CPU, {threads} threads, {rounds} interleaved rounds after 2 warm-ups; kernel path {KernelLibrary.BestIsa()}; " +
            $"VNNI peak {threads} x 64 MAC x {mhz:F0} MHz = {PeakGops(threads, mhz):F0} GOP/s"));
        Console.WriteLine("| M×K×N | kernel | median ms | GOP/s | vs float | of VNNI peak |");
        Console.WriteLine("|---|---|---|---|---|---|");
        foreach (var (m, k, n) in shapes)
        {
            var variants = Variants(m, k, n);
            var random = new Random(7);
            var a = Enumerable.Range(0, m * k).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
            var feeds = new Dictionary<string, Tensor> { ["a"] = Tensor.FromFloats(a, m, k) };
            var options = new RunnerOptions { Optimization = OptimizationLevel.All, IntraOpThreads = threads, AllowSpinning = false };
            var runners = variants.Select(v => ModelRunner.FromModel(v.Model, options)).ToList();
            var prepared = runners.Select(r => r.Prepare(feeds)).ToList();
            var times = variants.Select(_ => new List<double>()).ToList();
            for (int round = -2; round < rounds; round++)
                for (int j = 0; j < variants.Count; j++)
                {
                    int i = (j + Math.Max(round, 0)) % variants.Count;  // rotate the order: no variant always runs first
                    var sw = Stopwatch.StartNew();
                    prepared[i].Invoke();
                    if (round >= 0) times[i].Add(sw.Elapsed.TotalMilliseconds);
                }
            double floatMs = Median(times[0]);
            for (int i = 0; i < variants.Count; i++)
            {
                double ms = Median(times[i]), gops = 2.0 * m * k * n / ms / 1e6;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {m}×{k}×{n} | {variants[i].Name} | {ms:F2} | {gops:F1} | {ms / floatMs:F2}x | {(i == 0 ? "" : $"{gops / PeakGops(threads, mhz):P1}")} |"));
            }
            foreach (var p in prepared) p.Dispose();
            foreach (var r in runners) r.Dispose();
            foreach (var v in variants) v.Model.Dispose();
        }
    }

    private static double PeakGops(int threads, double mhz) => threads * 64 * 2 * mhz / 1000;

    private static double Median(List<double> values)
    {
        var sorted = values.OrderBy(v => v).ToList();
        return sorted[(sorted.Count - 1) / 2];
    }

    private static double CpuMhz()
    {
        foreach (string line in File.ReadLines("/proc/cpuinfo"))
            if (line.StartsWith("cpu MHz", StringComparison.Ordinal))
                return double.Parse(line[(line.IndexOf(':') + 1)..].Trim(), CultureInfo.InvariantCulture);
        return 3000;
    }

    private static List<(string Name, Model Model)> Variants(int m, int k, int n)
    {
        var random = new Random(1);
        const int Block = 32;
        int blocks = (k + Block - 1) / Block;
        var wf = Enumerable.Range(0, k * n).Select(_ => (float)(random.NextDouble() * 0.1 - 0.05)).ToArray();
        var w8 = Enumerable.Range(0, k * n).Select(_ => (sbyte)random.Next(-127, 128)).ToArray();
        var s8 = Enumerable.Range(0, n).Select(_ => 0.0004f).ToArray();
        var b4 = new byte[n * blocks * Block / 2];
        random.NextBytes(b4);
        var s4 = Enumerable.Range(0, n * blocks).Select(_ => 0.006f).ToArray();

        GraphBuilder Builder(out Value a)
        {
            var b = new GraphBuilder(opset: 21).Opset("com.microsoft", 1).Opset(KernelLibrary.Domain, KernelLibrary.Version);
            a = b.Input("a", DataType.Float, m, k);
            return b;
        }
        Model Float()
        {
            var b = Builder(out var a);
            b.Output(b.Op("MatMul", a, b.Constant(Tensor.FromFloats(wf, k, n))), "y");
            return b.Build();
        }
        Model Qdq()
        {
            var b = Builder(out var a);
            var sa = b.Constant(Tensor.FromFloats([1f / 127]));
            var za = b.Constant(Tensor.FromSpan<byte>(DataType.UInt8, [(byte)128], []));
            var x = b.Op("DequantizeLinear", b.Op("QuantizeLinear", a, sa, za), sa, za);
            var w = b.Op("DequantizeLinear", [b.Constant(Tensor.FromSpan<sbyte>(DataType.Int8, w8, [k, n])), b.Constant(Tensor.FromFloats(s8, n))], [Attribute.Int("axis", 1)]);
            b.Output(b.Op("MatMul", x, w), "y");
            return b.Build();
        }
        Model NBits(string op, string domain)
        {
            var b = Builder(out var a);
            var attrs = new List<Attribute> { Attribute.Int("K", k), Attribute.Int("N", n), Attribute.Int("bits", 4), Attribute.Int("block_size", Block) };
            if (domain == "com.microsoft") attrs.Add(Attribute.Int("accuracy_level", 4));
            b.Output(b.Op(op, [a, b.Constant(Tensor.FromSpan<byte>(DataType.UInt8, b4, [n, blocks, Block / 2])), b.Constant(Tensor.FromFloats(s4, n * blocks))], attrs, domain), "y");
            return b.Build();
        }
        Model W8A8()
        {
            var b = Builder(out var a);
            b.Output(b.Op("MatMulW8A8", [a, b.Constant(Tensor.FromSpan<sbyte>(DataType.Int8, w8, [k, n])), b.Constant(Tensor.FromFloats(s8, n))], null, KernelLibrary.Domain), "y");
            return b.Build();
        }
        return
        [
            ("float MatMul", Float()),
            ("ORT int8 QDQ (MatMulIntegerToFloat)", Qdq()),
            ("ORT MatMulNBits int4 g32 level 4", NBits("MatMulNBits", "com.microsoft")),
            ("MatMulW8A8 (ours)", W8A8()),
            ("MatMulW4A8 int4 g32 (ours)", NBits("MatMulW4A8", KernelLibrary.Domain)),
        ];
    }
}
