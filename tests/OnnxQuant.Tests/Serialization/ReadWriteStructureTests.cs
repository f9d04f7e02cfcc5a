using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;

namespace OnnxQuant.Tests.Serialization;

public class ReadWriteStructureTests
{
    public static TheoryData<string> SharedModels() => new(SharedPaths.AllModels().Select(Path.GetFileName)!);

    [Theory]
    [MemberData(nameof(SharedModels))]
    public void SharedModel_SurvivesReadWriteRead_WithSameStructure(string file)
    {
        using var first = OnnxReader.Read(SharedPaths.Model(file));
        byte[] bytes = OnnxWriter.ToBytes(first);
        using var second = OnnxReader.Read(bytes);
        Assert.Equal(Describe(first), Describe(second));
        // Writing is deterministic: the same IR gives the same bytes.
        Assert.Equal(bytes, OnnxWriter.ToBytes(second));
    }

    private static string Describe(Model m)
    {
        var lines = new List<string> { $"ir {m.IrVersion}", string.Join(",", m.OpsetImports) };
        foreach (var g in m.AllGraphs())
        {
            lines.Add($"graph {g.Name} in {string.Join(",", g.Inputs.Select(v => v.Name + ":" + v.Type))} out {string.Join(",", g.Outputs.Select(v => v.Name + ":" + v.Type))}");
            foreach (var c in g.Constants) lines.Add($"const {c.Name} {c.Const} {Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(c.Const!.ElementType == DataType.String ? [] : c.Const.RawData.Span))}");
            foreach (var n in g.Nodes)
                lines.Add($"{n} ({string.Join(",", n.Inputs.Select(v => v?.Name))}) -> ({string.Join(",", n.Outputs.Select(v => v?.Name))}) {string.Join(" ", n.Attributes)}");
        }
        return string.Join("\n", lines);
    }
}
