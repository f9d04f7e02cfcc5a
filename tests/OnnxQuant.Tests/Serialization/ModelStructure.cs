using System.Security.Cryptography;
using OnnxQuant.Ir;

namespace OnnxQuant.Tests.Serialization;

/// <summary>
/// A model's structure as text (header, every graph's interface, constants with a hash of their bytes, nodes with
/// inputs, outputs and attributes), so two models can be compared with one equality that names the first difference.
/// </summary>
public static class ModelStructure
{
    public static string Describe(Model m)
    {
        var lines = new List<string>
        {
            $"ir {m.IrVersion}",
            $"opsets {string.Join(",", m.OpsetImports)}",
            $"producer {m.ProducerName} {m.ProducerVersion} domain {m.Domain} version {m.ModelVersion}",
            $"metadata {string.Join(",", m.Metadata)}",
            $"functions {string.Join(",", m.Functions)}",
        };
        foreach (var g in m.AllGraphs())
        {
            lines.Add($"graph {g.Name} in {string.Join(",", g.Inputs.Select(v => v.Name + ":" + v.Type))} out {string.Join(",", g.Outputs.Select(v => v.Name + ":" + v.Type))}");
            foreach (var c in g.Constants) lines.Add($"const {c.Name} {c.Const} {Hash(c.Const!)}");
            foreach (var n in g.Nodes)
                lines.Add($"{n} ({string.Join(",", n.Inputs.Select(v => v?.Name))}) -> ({string.Join(",", n.Outputs.Select(v => v?.Name + ":" + v?.Type))}) {string.Join(" ", n.Attributes)}");
        }
        return string.Join("\n", lines);
    }

    public static string Hash(Tensor t) =>
        t.ElementType == DataType.String
            ? Convert.ToHexString(SHA256.HashData(t.Strings.SelectMany(s => BitConverter.GetBytes(s.Length).Concat(s)).ToArray()))
            : Convert.ToHexString(SHA256.HashData(t.RawData.Span));
}
