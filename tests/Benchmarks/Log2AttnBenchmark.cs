using System.Diagnostics;
using System.Globalization;
using OnnxQuant.Ir;
using OnnxQuant.Ir.Building;
using OnnxQuant.Passes;
using OnnxQuant.Passes.CustomOps;
using OnnxQuant.Passes.Quantization.Repq;
using OnnxQuant.Passes.Rewriting;
using OnnxQuant.Runtime;
using OnnxQuant.Runtime.Kernels;

namespace OnnxQuant.Benchmarks;

/// <summary>
/// RepQ-ViT's attention-times-V at ViT-B shapes (batch 1, 12 heads, 197 tokens, head size 64), timed interleaved in
/// ONNX Runtime (all optimizations on, the given threads, spinning off): the standard-ONNX float decomposition
/// (<see cref="Log2Export"/>'s code search + table Gather, DequantizeLinear of V, float MatMul), the same model
/// after fuse-custom-ops (one <c>Log2AttnMatMul</c>), and, for scale, the unquantized float MatMul of P and V.
/// Inputs: softmax rows of random logits, random uint8 V codes.
/// </summary>
internal static class Log2AttnBenchmark
{
    public static void Run(int threads, int rounds, IReadOnlyList<int> bitWidths)
    {
        const int Heads = 12, Tokens = 197, HeadSize = 64;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"ONNX Runtime CPU, {threads} threads, {rounds} interleaved rounds after 2 warm-ups; kernel path {KernelLibrary.BestIsa()}; P [1,{Heads},{Tokens},{Tokens}] · V [1,{Heads},{Tokens},{HeadSize}]"));
        Console.WriteLine("| codes | variant | median ms | vs float decomposition |");
        Console.WriteLine("|---|---|---|---|");
        var random = new Random(11);
        var a = new float[Heads * Tokens * Tokens];
        for (int r = 0; r < Heads * Tokens; r++)
        {
            var logits = Enumerable.Range(0, Tokens).Select(_ => random.NextDouble() * 6).ToArray();
            double max = logits.Max(), sum = logits.Sum(x => Math.Exp(x - max));
            for (int j = 0; j < Tokens; j++) a[r * Tokens + j] = (float)(Math.Exp(logits[j] - max) / sum);
        }
        var v = new byte[Heads * Tokens * HeadSize];
        random.NextBytes(v);
        var feeds = new Dictionary<string, Tensor>
        {
            ["a"] = Tensor.FromFloats(a, 1, Heads, Tokens, Tokens),
            ["v"] = Tensor.FromSpan<byte>(DataType.UInt8, v, [1, Heads, Tokens, HeadSize]),
        };
        foreach (int bits in bitWidths)
        {
            float scale = a.Max();
            var variants = new List<(string Name, Model Model)>
            {
                ("float decomposition (log2 export + DequantizeLinear + MatMul)", Build(Heads, Tokens, HeadSize, new Log2Quantizer(scale, bits), fuse: false)),
                ("Log2AttnMatMul (fuse-custom-ops)", Build(Heads, Tokens, HeadSize, new Log2Quantizer(scale, bits), fuse: true)),
                ("unquantized P · DequantizeLinear(V), for scale", Build(Heads, Tokens, HeadSize, null, fuse: false)),
            };
            var options = new RunnerOptions { Optimization = OptimizationLevel.All, IntraOpThreads = threads, AllowSpinning = false };
            var runners = variants.Select(x => ModelRunner.FromModel(x.Model, options)).ToList();
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
            double baseMs = Median(times[0]);
            for (int i = 0; i < variants.Count; i++)
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {bits}-bit | {variants[i].Name} | {Median(times[i]):F2} | {Median(times[i]) / baseMs:F2}x |"));
            foreach (var p in prepared) p.Dispose();
            foreach (var r in runners) r.Dispose();
            foreach (var x in variants) x.Model.Dispose();
        }
    }

    private static Model Build(int heads, int tokens, int headSize, Log2Quantizer? quantizer, bool fuse)
    {
        var b = new GraphBuilder(opset: 21);
        var a = b.Input("a", DataType.Float, 1, heads, tokens, tokens);
        var v = b.Input("v", DataType.UInt8, 1, heads, tokens, headSize);
        var probabilities = b.Op("Identity", a);
        var dq = b.Op("DequantizeLinear", v, b.Constant(Tensor.FromFloats([0.02f])), b.Constant(Tensor.FromSpan<byte>(DataType.UInt8, [(byte)128], [])));
        b.Output(b.Op("MatMul", probabilities, dq), "y");
        var model = b.Build();
        var identity = model.Graph.Nodes.Single(n => n.OpType == "Identity");
        identity.Output.Type = new TensorType(DataType.Float, new Shape(1, heads, tokens, tokens));
        dq.Type = new TensorType(DataType.Float, new Shape(1, heads, tokens, headSize));
        if (quantizer is not null) Log2Export.Insert(new Rewriter(model.Graph), identity.Output, quantizer);
        if (fuse && !new FuseCustomOpsPass().Run(model, new NoOptions(), new PassContext()).Modified)
            throw new InvalidOperationException("fuse-custom-ops did not fuse the log2 attention");
        return model;
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
    }
}
