using System.Globalization;
using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;

namespace OnnxQuant.Cli.Commands;

/// <summary>What the quantize summary compares before and after: nodes per op, weight bytes, file bytes.</summary>
internal sealed record ModelSummary(int NodeCount, IReadOnlyDictionary<string, int> Ops, long WeightBytes, long FileBytes)
{
    /// <summary>Counts every node (subgraphs and function bodies included), keyed <c>Op</c> or <c>domain.Op</c>.</summary>
    public static ModelSummary Of(Model model, long fileBytes)
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
        return new ModelSummary(count, ops, OnnxWriter.TotalTensorBytes(model), fileBytes);
    }

    public static string FormatBytes(long bytes) => bytes switch
    {
        < 1_000 => $"{bytes} B",
        < 1_000_000 => (bytes / 1e3).ToString("0.0", CultureInfo.InvariantCulture) + " kB",
        < 1_000_000_000 => (bytes / 1e6).ToString("0.0", CultureInfo.InvariantCulture) + " MB",
        _ => (bytes / 1e9).ToString("0.00", CultureInfo.InvariantCulture) + " GB",
    };

    public static string FormatTime(TimeSpan time) =>
        time.TotalSeconds >= 10
            ? time.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture) + " s"
            : time.TotalMilliseconds.ToString("0.0", CultureInfo.InvariantCulture) + " ms";
}
