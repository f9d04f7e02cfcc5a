using System.Globalization;
using System.Text.Json;
using OnnxQuant.Ir;
using OnnxQuant.Ir.Building;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Runtime.Benchmarking;

namespace OnnxQuant.Benchmarks;

/// <summary>
/// Measures the table auto-precision ships (passes/OnnxQuant.Passes/Quantization/AutoPrecision/kernel-costs.json):
/// for each kind of quantizable op, a one-op model on a representative shape, quantized by insert-qdq with int8 and
/// with int16 activations, each timed against the float model interleaved in one process (ONNX Runtime CPU, graph
/// optimizations on, the given threads); nanoseconds per multiply-accumulate = float median / MACs, times each
/// variant's median per-round latency ratio to float.
/// </summary>
public static class KernelCostTable
{
    private sealed record Kind(string Name, string Input, long[] InputShape, Func<GraphBuilder, Value, Value> Op, double Macs);

    public static int Run(string output, int threads, int runs)
    {
        var rng = new Random(0);
        Tensor Weight(params long[] dims)
        {
            var data = new float[dims.Aggregate(1L, (a, b) => a * b)];
            for (int i = 0; i < data.Length; i++) data[i] = (float)(rng.NextDouble() * 2 - 1) * 0.1f;
            return Tensor.FromFloats(data, dims);
        }
        Value Conv(GraphBuilder g, Value x, long cout, long cin, long k, long group) =>
            g.Op("Conv", [x, g.Constant(Weight(cout, cin / group, k, k), "w"), g.Constant(Weight(cout), "b")],
                [OnnxQuant.Ir.Attribute.Int("group", group), OnnxQuant.Ir.Attribute.Ints("pads", [k / 2, k / 2, k / 2, k / 2])], name: "op");
        var kinds = new List<Kind>
        {
            new("Conv kxk", "x", [1, 64, 56, 56], (g, x) => Conv(g, x, 64, 64, 3, 1), 56.0 * 56 * 64 * 64 * 9),
            new("Conv 1x1", "x", [1, 128, 56, 56], (g, x) => Conv(g, x, 128, 128, 1, 1), 56.0 * 56 * 128 * 128),
            new("Conv depthwise", "x", [1, 128, 56, 56], (g, x) => Conv(g, x, 128, 128, 3, 128), 56.0 * 56 * 128 * 9),
            new("MatMul", "x", [1, 197, 384], (g, x) => g.Op("MatMul", [x, g.Constant(Weight(384, 384), "w")], name: "op"), 197.0 * 384 * 384),
            new("MatMul activations", "x", [1, 6, 197, 64],
                (g, x) => g.Op("MatMul", [x, g.Op("Transpose", [x], [OnnxQuant.Ir.Attribute.Ints("perm", [0, 1, 3, 2])], name: "t")], name: "op"), 6.0 * 197 * 197 * 64),
        };
        string dir = Path.Combine(Path.GetTempPath(), $"onnxquant-kernel-costs-{Environment.ProcessId}");
        Directory.CreateDirectory(dir);
        var table = new SortedDictionary<string, SortedDictionary<string, double>>(StringComparer.Ordinal);
        try
        {
            foreach (var kind in kinds)
            {
                var g = new GraphBuilder(opset: 21);
                var x = g.Input(kind.Input, DataType.Float, kind.InputShape.Select(Dim.Known).ToArray());
                g.Output(kind.Op(g, x), "y");
                string floatPath = Path.Combine(dir, "float.onnx");
                using (var model = g.Build()) OnnxWriter.Write(model, floatPath);
                var shapes = new Dictionary<string, long[]> { [kind.Input] = kind.InputShape };
                string Quantized(string activation)
                {
                    string path = Path.Combine(dir, $"{activation}.onnx");
                    string yaml = $"name: kernel-cost\npasses:\n  - calibrate: {{method: min-max}}\n  - insert-qdq: {{activation-type: {activation}}}\n";
                    Quantizer.Quantize(floatPath, path, new QuantizeOptions
                    {
                        Recipe = RecipeSource.Yaml(yaml),
                        Calibration = new CalibrationData { Path = "random", Count = 4, Shapes = shapes },
                    });
                    return path;
                }
                var bench = new BenchOptions { Threads = threads, Runs = runs, Warmup = 5, Shapes = shapes };
                var int8 = LatencyBenchmark.Run([floatPath, Quantized("uint8")], bench);
                var int16 = LatencyBenchmark.Run([floatPath, Quantized("int16")], bench);
                double floatNs = int8.Models[0].Latency.MedianMs * 1e6 / kind.Macs;
                table[kind.Name] = new(StringComparer.Ordinal)
                {
                    ["float"] = Math.Round(floatNs, 5),
                    ["int8"] = Math.Round(floatNs * int8.Comparison!.LatencyRatio, 5),
                    ["int16"] = Math.Round(floatNs * int16.Comparison!.LatencyRatio, 5),
                };
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{kind.Name,-20} float {floatNs:F5} ns/MAC ({int8.Models[0].Latency.MedianMs:F3} ms), int8 {int8.Comparison.LatencyRatio:F3}x, int16 {int16.Comparison.LatencyRatio:F3}x"));
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
        var json = new
        {
            madeBy = $"dotnet run -c Release --project tests/Benchmarks -- --kernel-costs OUT --threads {threads} --runs {runs} "
                + $"(ONNX Runtime CPU, {threads} threads, {Environment.ProcessorCount}-core machine)",
            nsPerMac = table,
        };
        File.WriteAllText(output, JsonSerializer.Serialize(json, new JsonSerializerOptions { WriteIndented = true }) + "\n");
        Console.WriteLine($"Wrote {output}.");
        return 0;
    }
}
