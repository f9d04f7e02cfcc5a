using System.Diagnostics;
using System.Globalization;
using OnnxQuant.Ir;
using OnnxQuant.Ir.Building;
using OnnxQuant.Ir.Numerics;
using OnnxQuant.Runtime;
using OnnxQuant.Runtime.Kernels;

namespace OnnxQuant.Benchmarks;

/// <summary>
/// BcqMatMul (binary-coded weights by lookup tables) against the ways standard ONNX runs the same weights, at decode
/// shapes, interleaved in one process (ORT, the given threads, spinning off): (1) float MatMul — what ONNX Runtime
/// turns GPTQT's standard export into when it constant-folds the decomposition at session load (32 bits per weight in
/// memory); (2) the standard export dequantized on every run (uint4 codes → DequantizeLinear → Floor/Mod → Mul →
/// ReduceSum → Add → MatMul, with ORT's graph optimizations off so the folding does not happen); (3) BcqMatMul with
/// the same planes. Random signs and α, block 64.
/// </summary>
internal static class BcqBenchmark
{
    public static readonly (int M, int K, int N)[] DefaultShapes = [(1, 2048, 8192), (1, 4096, 4096)];
    private const int Block = 64;

    public static void Run(int threads, int rounds, IReadOnlyList<(int M, int K, int N)> shapes)
    {
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"ONNX Runtime CPU, {threads} threads, {rounds} interleaved rounds after 2 warm-ups; kernel path {KernelLibrary.BestIsa()}; block {Block}"));
        Console.WriteLine("| M×K×N | planes | kernel | median ms | vs float MatMul | vs dequantize + MatMul |");
        Console.WriteLine("|---|---|---|---|---|---|");
        foreach (var (m, k, n) in shapes)
            foreach (int planes in new[] { 2, 3 })
            {
                var random = new Random(planes * 7 + k);
                var codes = Enumerable.Range(0, k * n).Select(_ => random.Next(1 << planes)).ToArray();
                var alphas = Enumerable.Range(0, planes * (k / Block) * n).Select(i => (float)(0.01 / (1 << (i / (k / Block * n))))).ToArray();
                var offsets = Enumerable.Range(0, k / Block * n).Select(_ => (float)(random.NextDouble() * 0.01)).ToArray();
                var variants = new List<(string Name, Model Model, OptimizationLevel Level)>
                {
                    ("float MatMul (the folded standard export)", FloatModel(codes, alphas, offsets, k, n, planes), OptimizationLevel.All),
                    ("dequantize + MatMul (standard export, unfolded)", DecompositionModel(codes, alphas, offsets, k, n, planes), OptimizationLevel.None),
                    ("BcqMatMul (ours)", BcqModel(codes, alphas, offsets, k, n, planes), OptimizationLevel.All),
                };
                var a = Enumerable.Range(0, m * k).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
                var feeds = new Dictionary<string, Tensor> { ["a"] = Tensor.FromFloats(a, m, k) };
                var runners = variants.Select(v => ModelRunner.FromModel(v.Model, new RunnerOptions { Optimization = v.Level, IntraOpThreads = threads, AllowSpinning = false })).ToList();
                var prepared = runners.Select(r => r.Prepare(feeds)).ToList();
                var times = variants.Select(_ => new List<double>()).ToList();
                for (int round = -2; round < rounds; round++)
                    for (int j = 0; j < variants.Count; j++)
                    {
                        int i = (j + Math.Max(round, 0)) % variants.Count;
                        var sw = Stopwatch.StartNew();
                        prepared[i].Invoke();
                        if (round >= 0) times[i].Add(sw.Elapsed.TotalMilliseconds);
                    }
                double floatMs = Median(times[0]), dqMs = Median(times[1]);
                for (int i = 0; i < variants.Count; i++)
                {
                    double ms = Median(times[i]);
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"| {m}×{k}×{n} | {planes} | {variants[i].Name} | {ms:F2} | {ms / floatMs:F3}x | {ms / dqMs:F3}x |"));
                }
                foreach (var p in prepared) p.Dispose();
                foreach (var r in runners) r.Dispose();
                foreach (var v in variants) v.Model.Dispose();
            }
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted[sorted.Count / 2];
    }

    /// <summary>Ŵ[k, n] = c + Σᵢ αᵢ·(2·bitᵢ − 1); alphas [p, blocks, n], offsets [blocks, n] (the export's c − Σα is not used here).</summary>
    private static float Weight(int[] codes, float[] alphas, float[] offsets, int k, int n, int planes, int kk, int col)
    {
        int blocks = k / Block, b = kk / Block;
        float w = offsets[b * n + col];
        for (int i = 0; i < planes; i++) w += ((codes[kk * n + col] >> i) & 1) != 0 ? alphas[(i * blocks + b) * n + col] : -alphas[(i * blocks + b) * n + col];
        return w;
    }

    private static Model FloatModel(int[] codes, float[] alphas, float[] offsets, int k, int n, int planes)
    {
        var w = new float[k * n];
        for (int kk = 0; kk < k; kk++) for (int c = 0; c < n; c++) w[kk * n + c] = Weight(codes, alphas, offsets, k, n, planes, kk, c);
        var b = new GraphBuilder(opset: 21);
        b.Output(b.Op("MatMul", b.Input("a", DataType.Float, "rows", k), b.Constant(Tensor.FromFloats(w, k, n), "w")), "y");
        return b.Build();
    }

    /// <summary>The shape of GPTQT's standard export (WeightOnlyRewriter.BinaryCoding), K a multiple of the block.</summary>
    private static Model DecompositionModel(int[] codes, float[] alphas, float[] offsets, int k, int n, int planes)
    {
        int blocks = k / Block;
        var doubled = alphas.Select(v => 2 * v).ToArray();
        var bias = new float[blocks * n];
        for (int bl = 0; bl < blocks; bl++)
            for (int c = 0; c < n; c++)
            {
                float v = offsets[bl * n + c];
                for (int i = 0; i < planes; i++) v -= alphas[(i * blocks + bl) * n + c];
                bias[bl * n + c] = v;
            }
        var b = new GraphBuilder(opset: 21);
        var a = b.Input("a", DataType.Float, "rows", k);
        Value Ints(params long[] v) => b.Constant(Tensor.FromInt64s(v, v.Length));
        Value Expand(Value perBlock, long[] leading) =>
            b.Op("Reshape", b.Op("Expand", perBlock, Ints([.. leading, blocks, Block, n])), Ints([.. leading, k, n]));
        var q = b.Op("DequantizeLinear", b.Constant(Tensor.FromRaw(DataType.UInt4, [1, k, n], SubBytePacking.Pack(codes, 4))),
                     b.Constant(Tensor.FromFloats([1f])), b.Constant(Tensor.FromRaw(DataType.UInt4, [], SubBytePacking.Pack([0], 4))));
        var powers = b.Constant(Tensor.FromFloats(Enumerable.Range(0, planes).Select(i => MathF.Pow(2, -i)).ToArray(), planes, 1, 1));
        var bits = b.Op("Mod", [b.Op("Floor", b.Op("Mul", q, powers)), b.Constant(Tensor.FromFloats([2f]))], [Attribute.Int("fmod", 1)]);
        var planesMul = b.Op("Mul", bits, Expand(b.Constant(Tensor.FromFloats(doubled, planes, blocks, 1, n)), [planes]));
        var summed = b.Op("ReduceSum", [planesMul, Ints(0)], [Attribute.Int("keepdims", 0)]);
        var w = b.Op("Add", summed, Expand(b.Constant(Tensor.FromFloats(bias, blocks, 1, n)), []));
        b.Output(b.Op("MatMul", a, w), "y");
        return b.Build();
    }

    private static Model BcqModel(int[] codes, float[] alphas, float[] offsets, int k, int n, int planes)
    {
        int blocks = k / Block, groups = k / 8;
        var packed = new byte[n * planes * groups];
        for (int kk = 0; kk < k; kk++)
            for (int c = 0; c < n; c++)
                for (int i = 0; i < planes; i++)
                    if (((codes[kk * n + c] >> i) & 1) != 0) packed[(c * planes + i) * groups + kk / 8] |= (byte)(1 << (kk % 8));
        var alphaInput = new float[n * blocks * planes];
        var offsetInput = new float[n * blocks];
        for (int c = 0; c < n; c++)
            for (int bl = 0; bl < blocks; bl++)
            {
                offsetInput[c * blocks + bl] = offsets[bl * n + c];
                for (int i = 0; i < planes; i++) alphaInput[(c * blocks + bl) * planes + i] = alphas[(i * blocks + bl) * n + c];
            }
        var b = new GraphBuilder(opset: 21).Opset(KernelLibrary.Domain, 1);
        var y = b.Op("BcqMatMul",
            [b.Input("a", DataType.Float, "rows", k), b.Constant(Tensor.FromSpan<byte>(DataType.UInt8, packed, [n, planes, groups])),
             b.Constant(Tensor.FromFloats(alphaInput, n, blocks, planes)), b.Constant(Tensor.FromFloats(offsetInput, n, blocks))],
            [Attribute.Int("K", k), Attribute.Int("N", n), Attribute.Int("planes", planes), Attribute.Int("block_size", Block)], KernelLibrary.Domain);
        b.Output(y, "y");
        return b.Build();
    }
}
