using System.Reflection;
using System.Text.Json;
using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Quantization.AutoPrecision;

/// <summary>
/// The latency cost of a quantizable node at each <see cref="PrecisionChoice"/>: its multiply-accumulates times the
/// nanoseconds per MAC that ONNX Runtime (CPU, 2 threads) took for one op of that kind, measured once on
/// representative shapes and shipped as <c>kernel-costs.json</c> (how it was made is in the file and in
/// passes/OnnxQuant.Cli/docs/auto-precision.md). Nothing is timed during a run. The model's estimated latency is the
/// sum over its quantizable nodes; other ops (normalizations, activations) are the same in every variant and left out,
/// so the ratio to float is that of the quantizable ops only.
/// </summary>
public sealed class KernelCosts
{
    private readonly Dictionary<string, Dictionary<string, double>> _nsPerMac;

    private KernelCosts(Dictionary<string, Dictionary<string, double>> nsPerMac, string madeBy)
    {
        _nsPerMac = nsPerMac;
        MadeBy = madeBy;
    }

    /// <summary>How the table was measured (the command and machine).</summary>
    public string MadeBy { get; }

    public static KernelCosts Shipped { get; } = Load();

    public static KernelCosts Parse(string json)
    {
        using var doc = JsonDocument.Parse(json);
        var table = new Dictionary<string, Dictionary<string, double>>(StringComparer.Ordinal);
        foreach (var kind in doc.RootElement.GetProperty("nsPerMac").EnumerateObject())
            table[kind.Name] = kind.Value.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetDouble(), StringComparer.Ordinal);
        return new KernelCosts(table, doc.RootElement.GetProperty("madeBy").GetString() ?? "");
    }

    private static KernelCosts Load()
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("OnnxQuant.Passes.kernel-costs.json")
            ?? throw new InvalidOperationException("kernel-costs.json is not embedded in OnnxQuant.Passes.");
        using var reader = new StreamReader(stream);
        return Parse(reader.ReadToEnd());
    }

    /// <summary>The table's kind of <paramref name="node"/>: Conv 1x1 / kxk / depthwise, MatMul (constant weight), MatMul activations (both inputs activations).</summary>
    public static string KindOf(Node node)
    {
        if (node.OpType is "Conv" or "ConvTranspose")
        {
            var w = node.Inputs.Count > 1 ? node.Inputs[1]?.Shape : null;
            long group = node.GetInt("group", 1);
            if (group > 1 && w is { Rank: >= 2 } && w[1].Value == 1) return "Conv depthwise";
            if (w is { Rank: >= 3 } && w.Dims.Skip(2).All(d => d.Value == 1)) return "Conv 1x1";
            return "Conv kxk";
        }
        if (node.OpType is "MatMul" && node.Inputs.Count > 1 && node.Inputs[1] is { IsConstant: false }) return "MatMul activations";
        return "MatMul";
    }

    /// <summary>Nanoseconds for <paramref name="macs"/> multiply-accumulates of <paramref name="kind"/> at <paramref name="choice"/>.</summary>
    public double Nanoseconds(string kind, PrecisionChoice choice, double macs)
    {
        var row = _nsPerMac.GetValueOrDefault(kind) ?? _nsPerMac["Conv kxk"];
        string key = choice switch { PrecisionChoice.Int8 or PrecisionChoice.Int8Clipped => "int8", PrecisionChoice.Int16 => "int16", _ => "float" };
        return row[key] * macs;
    }

    /// <summary>
    /// Multiply-accumulates of one run of <paramref name="node"/>: output elements × (weight elements per output
    /// channel) for Conv, output elements × K for MatMul/Gemm. <paramref name="outputElements"/> is the element count
    /// measured on a held-out sample (shapes may be free); null falls back to the inferred shape, then to 1.
    /// </summary>
    public static double Macs(Node node, long? outputElements)
    {
        double outElems = outputElements ?? (node.Outputs[0]?.Shape?.ToArray() is { } s ? s.Aggregate(1L, (a, b) => a * b) : 1);
        if (node.OpType is "Conv" or "ConvTranspose" && node.Inputs[1]?.Shape?.ToArray() is { Length: >= 2 } w)
            return outElems * w.Skip(1).Aggregate(1L, (a, b) => a * b);
        if (node.OpType is "MatMul" or "Gemm")
        {
            var a = node.Inputs[0]?.Shape;
            bool transA = node.GetInt("transA", 0) == 1;
            long? k = a is { Rank: >= 1 } ? (transA && a.Rank >= 2 ? a[a.Rank - 2].Value : a[a.Rank - 1].Value) : null;
            if (k is null && node.Inputs[1]?.Shape is { Rank: >= 2 } b) k = b[b.Rank - 2].Value;
            return outElems * (k ?? 1);
        }
        return outElems;
    }
}
