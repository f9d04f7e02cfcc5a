using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;

namespace OnnxQuant;

/// <summary>What a quantization changes, before and after: nodes per op, tensor bytes, file bytes.</summary>
/// <param name="NodeCount">Every node, subgraphs and function bodies included.</param>
/// <param name="Ops">Node counts keyed <c>Op</c> or <c>domain.Op</c>, in ordinal order.</param>
/// <param name="WeightBytes">Bytes of every tensor the model holds.</param>
/// <param name="FileBytes">The file's size (with its external data); null for a model given already loaded.</param>
public sealed record ModelStatistics(int NodeCount, IReadOnlyDictionary<string, int> Ops, long WeightBytes, long? FileBytes)
{
    public static ModelStatistics Of(Model model, long? fileBytes)
    {
        var ops = new SortedDictionary<string, int>(StringComparer.Ordinal);
        int count = 0;
        foreach (var graph in model.AllGraphs())
        {
            foreach (var node in graph.Nodes)
            {
                string key = node.IsDefaultDomain ? node.OpType : $"{node.Domain}.{node.OpType}";
                ops[key] = ops.GetValueOrDefault(key) + 1;
                count++;
            }
        }
        return new ModelStatistics(count, ops, OnnxWriter.TotalTensorBytes(model), fileBytes);
    }
}
