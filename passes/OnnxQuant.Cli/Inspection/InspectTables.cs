using System.Globalization;
using OnnxQuant.Passes.Recipes;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace OnnxQuant.Cli.Inspection;

/// <summary>Prints an <see cref="InspectReport"/> for people: a summary grid, then one table per section.</summary>
internal static class InspectTables
{
    public static void Write(InspectReport r, IAnsiConsole console)
    {
        // Plain lines rather than a Grid: a Grid pads every row to the full width, which litters pipes with spaces.
        void Row(string key, string value)
        {
            console.Write(new Text($"{key,-14}", new Style(decoration: Decoration.Bold)));
            console.Write(new Text(value + "\n"));
        }
        Row("Model", $"{r.File} ({Bytes(r.FileBytes)})");
        Row("IR version", r.IrVersion.ToString(CultureInfo.InvariantCulture));
        Row("Opsets", string.Join(", ", r.Opsets.Select(o => $"{(o.Domain.Length == 0 ? "ai.onnx" : o.Domain)} {o.Version}")));
        Row("Producer", string.Join(" ", new[] { r.ProducerName, r.ProducerVersion }.Where(s => !string.IsNullOrEmpty(s))) is { Length: > 0 } p ? p : "(not recorded)");
        if (!string.IsNullOrEmpty(r.Domain)) Row("Domain", r.Domain);
        if (r.ModelVersion is long mv) Row("Model version", mv.ToString(CultureInfo.InvariantCulture));
        var n = r.Nodes;
        Row("Nodes", $"{N(n.Total)} ({N(n.MainGraph)} in the main graph, {N(n.Subgraphs)} in {n.SubgraphCount} subgraphs, {N(n.Functions)} in {n.FunctionCount} functions)");
        var pm = r.Parameters;
        Row("Parameters", $"{Count(pm.Elements)} in {pm.Tensors} tensors, {Bytes(pm.Bytes)} ({pm.Initializers} initializers, {pm.ConstantNodes} Constant nodes)");
        Row("Verifier", r.Verifier.Status switch
        {
            "passed" => "passed",
            "failed" => $"FAILED ({r.Verifier.Problems.Count} problems)",
            _ => "not available in this build",
        });
        // How onnxquant made it (tool version, recipe, seed, calibration data), first: it is what one inspects a result for.
        var provenance = r.Metadata.Where(e => e.Key.StartsWith(Provenance.Prefix, StringComparison.Ordinal)).ToList();
        foreach (var e in provenance) Row(e.Key[Provenance.Prefix.Length..] switch
        {
            "version" => "Made by", "recipe" => "Recipe", "recipe_sha256" => "Recipe SHA-256", "seed" => "Seed", "calibration" => "Calibration",
            var other => other,
        }, e.Key == Provenance.Prefix + "version" ? "onnxquant " + e.Value : e.Value);
        console.WriteLine();

        var others = r.Metadata.Except(provenance).ToList();
        if (others.Count > 0)
        {
            var meta = NewTable("Metadata", numeric: false, "Key", "Value");
            foreach (var e in others) meta.AddRow(Cells(e.Key, e.Value));
            console.Write(meta);
        }

        console.Write(Values("Inputs", r.Inputs, r.ConstantInputs > 0 ? $"(+{r.ConstantInputs} inputs that are initializers, not listed)" : null));
        console.Write(Values("Outputs", r.Outputs, null));

        var ops = NewTable("Op types", numeric: true, "Op", "Total", "Main graph", "Subgraphs", "Functions");
        foreach (var o in r.Ops)
            ops.AddRow(Cells(o.Domain.Length == 0 ? o.OpType : $"{o.Domain}.{o.OpType}", N(o.Total), N(o.MainGraph), N(o.Subgraphs), N(o.Functions)));
        console.Write(ops);

        if (r.Functions.Count > 0)
        {
            var fs = NewTable("Functions", numeric: true, "Function", "Nodes");
            foreach (var f in r.Functions) fs.AddRow(Cells(f.Domain.Length == 0 ? f.Name : $"{f.Domain}.{f.Name}", N(f.Nodes)));
            console.Write(fs);
        }

        var par = NewTable("Parameters (constants)", numeric: true, "Element type", "Tensors", "Elements", "Bytes");
        foreach (var e in r.Parameters.ByElementType) par.AddRow(Cells(e.ElementType, N(e.Tensors), Count(e.Elements), Bytes(e.Bytes)));
        par.AddRow(Cells("total", N(pm.Tensors), Count(pm.Elements), Bytes(pm.Bytes)));
        console.Write(par);

        if (r.ExternalData.Count > 0)
        {
            var ext = NewTable("External data", numeric: true, "File", "File size", "Tensors", "Bytes used");
            foreach (var e in r.ExternalData) ext.AddRow(Cells(e.File, Bytes(e.FileBytes), N(e.Tensors), Bytes(e.Bytes)));
            console.Write(ext);
        }
        else console.WriteLine("External data: none (every tensor is inside the model file).");

        if (r.Verifier.Problems.Count > 0)
        {
            console.WriteLine("Verifier problems:");
            foreach (var problem in r.Verifier.Problems) console.Write(new Text($"  - {problem}\n"));
        }
    }

    private static Table Values(string title, IReadOnlyList<InspectReport.ValueEntry> values, string? caption)
    {
        var t = NewTable(title, numeric: false, "Name", "Element type", "Shape");
        foreach (var v in values)
        {
            string shape = v.Shape is null ? (v.ElementType is null ? v.Type : "(unknown)") : "[" + string.Join(", ", v.Shape.Select(d => d?.ToString() ?? "?")) + "]";
            t.AddRow(Cells(v.Name, v.ElementType ?? "", shape));
        }
        if (caption is not null) t.Caption(new TableTitle(caption));
        return t;
    }

    /// <summary>A table; with <paramref name="numeric"/> every column after the first is right-aligned.</summary>
    private static Table NewTable(string title, bool numeric, params string[] columns)
    {
        var t = new Table { Title = new TableTitle(title, new Style(decoration: Decoration.Bold)) };
        t.Border(TableBorder.Rounded);
        for (int i = 0; i < columns.Length; i++)
        {
            var c = new TableColumn(new Text(columns[i]));
            if (numeric && i > 0) c.RightAligned();
            t.AddColumn(c);
        }
        return t;
    }

    // Cells are Text, not markup: names in models may contain '[' and ']'.
    private static IRenderable[] Cells(params string[] texts) => texts.Select(s => (IRenderable)new Text(s)).ToArray();

    private static string N(int n) => n.ToString("N0", CultureInfo.InvariantCulture);
    private static string Count(long n) => n.ToString("N0", CultureInfo.InvariantCulture);

    private static string Bytes(long bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB"];
        double v = bytes;
        int u = 0;
        while (v >= 1024 && u < units.Length - 1) { v /= 1024; u++; }
        return u == 0 ? $"{bytes} B" : string.Create(CultureInfo.InvariantCulture, $"{v:0.0} {units[u]}");
    }
}
