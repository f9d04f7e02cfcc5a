using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;

namespace OnnxQuant.Cli.Inspection;

/// <summary>Gathers the facts <c>onnxquant inspect</c> prints from a model read without lifting Constant nodes.</summary>
internal static class ModelInspector
{
    public static InspectReport Inspect(Model model, string file)
    {
        var graph = model.Graph;
        return new InspectReport
        {
            File = file,
            FileBytes = new FileInfo(file).Length,
            IrVersion = model.IrVersion,
            Opsets = model.OpsetImports.Select(o => new InspectReport.OpsetEntry(o.Domain, o.Version)).ToList(),
            ProducerName = model.ProducerName,
            ProducerVersion = model.ProducerVersion,
            Domain = model.Domain,
            ModelVersion = model.ModelVersion,
            Inputs = graph.Inputs.Where(v => !v.IsConstant).Select(Describe).ToList(),
            Outputs = graph.Outputs.Select(Describe).ToList(),
            ConstantInputs = graph.Inputs.Count(v => v.IsConstant),
            Nodes = CountNodes(model, out var ops),
            Ops = ops,
            Functions = model.Functions
                .Select(f => new InspectReport.FunctionEntry(f.Domain, f.Name, NodesWithin(f.Body).Count()))
                .ToList(),
            Parameters = SummarizeParameters(model),
            ExternalData = SummarizeExternalData(model),
            Verifier = VerifierHook.Run(model),
            Metadata = model.Metadata.Select(e => new InspectReport.MetadataEntry(e.Key, e.Value)).ToList(),
        };
    }

    private static InspectReport.ValueEntry Describe(Value v)
    {
        var type = v.Type ?? (v.Const is { } t ? new TensorType(t.ElementType, new Shape(t.Dims.ToArray())) : null);
        if (type is TensorType tensor)
        {
            var shape = tensor.Shape?.Dims.Select(d => d.Value is long n ? n : (object?)d.Param).ToList();
            return new(v.Name ?? "", type.ToString(), tensor.ElementType.OnnxName(), shape);
        }
        return new(v.Name ?? "", type?.ToString() ?? "?", null, null);
    }

    /// <summary>Nodes of a graph and of all subgraphs nested in it.</summary>
    private static IEnumerable<Node> NodesWithin(Graph g)
    {
        foreach (var n in g.Nodes)
        {
            yield return n;
            foreach (var sub in n.Subgraphs)
                foreach (var inner in NodesWithin(sub)) yield return inner;
        }
    }

    private static InspectReport.NodeCounts CountNodes(Model model, out List<InspectReport.OpEntry> ops)
    {
        var counts = new Dictionary<(string Domain, string OpType), int[]>();
        void Add(Node n, int where)
        {
            var key = (n.Domain == "ai.onnx" ? "" : n.Domain, n.OpType);
            if (!counts.TryGetValue(key, out var c)) counts[key] = c = new int[3];
            c[where]++;
        }
        int main = 0, sub = 0, func = 0, subgraphs = 0;
        foreach (var n in model.Graph.Nodes)
        {
            Add(n, 0);
            main++;
            foreach (var g in n.Subgraphs)
            {
                subgraphs += AllGraphsWithin(g).Count();
                foreach (var inner in NodesWithin(g)) { Add(inner, 1); sub++; }
            }
        }
        foreach (var f in model.Functions)
            foreach (var n in NodesWithin(f.Body)) { Add(n, 2); func++; }

        ops = counts
            .Select(kv => new InspectReport.OpEntry(kv.Key.Domain, kv.Key.OpType, kv.Value.Sum(), kv.Value[0], kv.Value[1], kv.Value[2]))
            .OrderByDescending(o => o.Total)
            .ThenBy(o => o.Domain, StringComparer.Ordinal)
            .ThenBy(o => o.OpType, StringComparer.Ordinal)
            .ToList();
        return new(main, sub, func, main + sub + func, subgraphs, model.Functions.Count);
    }

    private static IEnumerable<Graph> AllGraphsWithin(Graph g)
    {
        yield return g;
        foreach (var n in g.Nodes)
            foreach (var sub in n.Subgraphs)
                foreach (var inner in AllGraphsWithin(sub)) yield return inner;
    }

    private static InspectReport.ParameterSummary SummarizeParameters(Model model)
    {
        var parameters = ModelTensors.All(model).Where(t => t.Source != TensorSource.Attribute).ToList();
        var byType = parameters
            .GroupBy(p => p.Tensor.ElementType)
            .Select(g => new InspectReport.ParameterEntry(
                g.Key.OnnxName(), g.Count(), g.Sum(p => p.Tensor.ElementCount), g.Sum(p => p.Tensor.ByteLength)))
            .OrderByDescending(e => e.Bytes)
            .ThenBy(e => e.ElementType, StringComparer.Ordinal)
            .ToList();
        return new(
            parameters.Count,
            byType.Sum(e => e.Elements),
            byType.Sum(e => e.Bytes),
            parameters.Count(p => p.Source == TensorSource.Initializer),
            parameters.Count(p => p.Source == TensorSource.ConstantNode),
            byType);
    }

    private static List<InspectReport.ExternalDataEntry> SummarizeExternalData(Model model)
    {
        string? baseDir = model.BaseDirectory is { } b ? FilePaths.Canonical(b) : null;
        return ModelTensors.All(model)
            .Select(t => t.Tensor.Storage)
            .OfType<MappedTensorStorage>()
            .GroupBy(s => s.FilePath, StringComparer.Ordinal)
            .Select(g => new InspectReport.ExternalDataEntry(
                baseDir is null ? g.Key : Path.GetRelativePath(baseDir, g.Key),
                new FileInfo(g.Key).Length,
                g.Count(),
                g.Sum(s => s.Length)))
            .ToList();
    }
}
