using System.Text.Json;
using System.Text.Json.Serialization;
using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Quantization;

/// <summary>
/// Every quantized tensor of a model as its DequantizeLinear nodes define it: element type and bits, per-tensor or
/// per-channel (axis) or blocked, scales and zero points. Read from the model itself, so it describes exactly what was
/// written (<c>--save-params FILE</c>).
/// </summary>
public static class QuantizationParametersReport
{
    public sealed record Entry(
        string Tensor, string Node, string Type, int Bits, string Granularity, long? Axis, long? BlockSize,
        IReadOnlyList<double> Scale, IReadOnlyList<double> ZeroPoint);

    public static IReadOnlyList<Entry> FromModel(Model model)
    {
        var entries = new List<Entry>();
        foreach (var node in model.AllGraphs().SelectMany(g => g.Nodes))
        {
            if (node.OpType != "DequantizeLinear" || node.Inputs[0] is not { } x || node.Inputs[1] is not { } scale) continue;
            if (ConstantNode.ConstantOf(scale) is not { } s) continue;
            var zero = node.Inputs.Count > 2 && node.Inputs[2] is { } z ? ConstantNode.ConstantOf(z) : null;
            var type = zero?.ElementType ?? x.ElementType ?? DataType.UInt8;
            long? blockSize = node.GetAttribute("block_size") is { } b && b.AsInt() > 0 ? b.AsInt() : null;
            bool perTensor = s.ElementCount == 1;
            entries.Add(new Entry(
                x.Name ?? "?", node.Name ?? node.Output.Name ?? "?", type.OnnxName(), type.BitWidth(),
                perTensor ? "per-tensor" : blockSize is null ? "per-channel" : "blocked",
                perTensor ? null : node.GetInt("axis", 1), blockSize,
                s.ToDoubleArray(), zero?.ToDoubleArray() ?? new double[s.ElementCount]));
        }
        return entries;
    }

    public static void Save(Model model, string path)
    {
        var json = JsonSerializer.Serialize(new { schemaVersion = 1, tensors = FromModel(model) }, Options);
        File.WriteAllText(path, json + "\n");
    }

    private static readonly JsonSerializerOptions Options = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };
}
