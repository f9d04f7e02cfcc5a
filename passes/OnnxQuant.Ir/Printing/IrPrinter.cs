using System.Globalization;
using System.Text;

namespace OnnxQuant.Ir.Printing;

/// <summary>
/// A readable text form of the IR for <c>--print-ir-after</c> and test failures: graph inputs and outputs with types,
/// constants by type and shape (never their data), one line per node <c>%y = Op&lt;attrs&gt;(%a, %b) : type</c>,
/// subgraphs and function bodies indented below their owner. Output is deterministic, so dumps can be diffed.
/// </summary>
public static class IrPrinter
{
    /// <summary>Lists longer than this are cut (<c>[1,2,…] (100 values)</c>): dumps are for reading.</summary>
    private const int MaxListItems = 16;

    public static string Print(Model model)
    {
        var sb = new StringBuilder();
        sb.Append("model opset ").AppendJoin(", ", model.OpsetImports.Select(o => $"{DomainName(o.Domain)} {o.Version}")).Append('\n');
        PrintGraph(sb, model.Graph, "graph", 0);
        foreach (var f in model.Functions)
        {
            string attrs = f.AttributeNames.Count + f.AttributeDefaults.Count == 0 ? ""
                : "<" + string.Join(", ", f.AttributeNames.Concat(f.AttributeDefaults.Select(FormatAttribute))) + ">";
            PrintGraph(sb, f.Body, $"function {DomainName(f.Domain)}.{f.Name}{attrs}", 0);
        }
        return sb.ToString();
    }

    /// <summary>One graph (and its subgraphs), starting with a <c>graph name(inputs) -&gt; (outputs)</c> line.</summary>
    public static string Print(Graph graph)
    {
        var sb = new StringBuilder();
        PrintGraph(sb, graph, "graph", 0);
        return sb.ToString();
    }

    /// <summary>The line a node prints as (without indentation or subgraphs).</summary>
    public static string Print(Node node)
    {
        var sb = new StringBuilder();
        AppendNode(sb, node);
        return sb.ToString();
    }

    private static void PrintGraph(StringBuilder sb, Graph graph, string keyword, int depth)
    {
        string indent = new(' ', depth * 2);
        sb.Append(indent).Append(keyword);
        if (graph.Name is { Length: > 0 } name) sb.Append(' ').Append(name);
        sb.Append('(').AppendJoin(", ", graph.Inputs.Select(v => Typed(v) + (v.IsConstant ? " = initializer" : ""))).Append(')');
        sb.Append(" -> (").AppendJoin(", ", graph.Outputs.Select(Typed)).Append(")\n");
        string inner = indent + "  ";
        foreach (var c in graph.Constants)
            if (!graph.Inputs.Contains(c))
                sb.Append(inner).Append("const ").Append(Typed(c)).Append('\n');
        foreach (var node in graph.Nodes)
        {
            sb.Append(inner);
            AppendNode(sb, node);
            sb.Append('\n');
            foreach (var a in node.Attributes)
            {
                var graphs = a.Graphs.ToList();
                for (int i = 0; i < graphs.Count; i++)
                {
                    string label = graphs.Count == 1 ? a.Name : $"{a.Name}[{i}]";
                    sb.Append(inner).Append("  ").Append(label).Append(":\n");
                    PrintGraph(sb, graphs[i], "graph", depth + 3);
                }
            }
        }
    }

    private static void AppendNode(StringBuilder sb, Node node)
    {
        if (node.Outputs.Count > 0)
            sb.AppendJoin(", ", node.Outputs.Select(Ref)).Append(" = ");
        if (!node.IsDefaultDomain) sb.Append(node.Domain).Append('.');
        sb.Append(node.OpType);
        var plain = node.Attributes.Where(a => !a.Graphs.Any()).ToList();
        if (plain.Count > 0) sb.Append('<').AppendJoin(", ", plain.Select(FormatAttribute)).Append('>');
        sb.Append('(').AppendJoin(", ", node.Inputs.Select(Ref)).Append(')');
        if (node.Outputs.Any(o => o?.Type is not null))
            sb.Append(" : ").AppendJoin(", ", node.Outputs.Select(o => o?.Type?.ToString() ?? "?"));
    }

    private static string Ref(Value? v) => v is null ? "_" : v.ToString();

    private static string Typed(Value v) => $"{v}: {(v.Const is { } t ? t.ToString() : v.Type?.ToString() ?? "?")}";

    private static string DomainName(string domain) => domain.Length == 0 ? "ai.onnx" : domain;

    private static string FormatAttribute(Attribute a) => a.Name + "=" + a.Value switch
    {
        null => "@" + a.RefAttrName,
        float f => FormatFloat(f),
        long i => i.ToString(CultureInfo.InvariantCulture),
        byte[] s => Quote(Encoding.UTF8.GetString(s)),
        Tensor t => "tensor " + t,
        float[] fs => FormatList(fs.Select(FormatFloat), fs.Length),
        long[] ints => FormatList(ints.Select(i => i.ToString(CultureInfo.InvariantCulture)), ints.Length),
        byte[][] ss => FormatList(ss.Select(s => Quote(Encoding.UTF8.GetString(s))), ss.Length),
        Tensor[] ts => FormatList(ts.Select(t => "tensor " + t), ts.Length),
        IrType[] types => FormatList(types.Select(t => t.ToString()), types.Length),
        _ => a.Value.ToString() ?? "",
    };

    private static string FormatFloat(float f) => f.ToString("R", CultureInfo.InvariantCulture);

    private static string FormatList(IEnumerable<string> items, int count) =>
        count <= MaxListItems
            ? "[" + string.Join(",", items) + "]"
            : "[" + string.Join(",", items.Take(MaxListItems)) + $",…] ({count} values)";

    private static string Quote(string s) =>
        "\"" + s.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\n", "\\n") + "\"";
}
