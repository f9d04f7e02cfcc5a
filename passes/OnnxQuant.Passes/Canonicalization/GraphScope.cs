using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Canonicalization;

/// <summary>
/// One graph of a model as the canonicalization passes visit it: the graph, the default-domain opset its nodes are
/// read at (a function body has its own imports), and the function whose body it belongs to, if any.
/// </summary>
internal readonly record struct GraphScope(Graph Graph, long Opset, Function? Function)
{
    public bool InFunction => Function is not null;

    /// <summary>
    /// The main graph, its subgraphs, then (when asked) each function body and its subgraphs; owners come before the
    /// graphs they hold. A snapshot, so passes may remove nodes (and with them subgraphs) while walking it.
    /// </summary>
    public static List<GraphScope> All(Model model, bool includeFunctions)
    {
        long modelOpset = model.GetOpset("") ?? 1;
        var result = new List<GraphScope>();
        Collect(model.Graph, modelOpset, null, result);
        if (includeFunctions)
        {
            foreach (var f in model.Functions)
            {
                long opset = f.OpsetImports.FirstOrDefault(o => o.Domain is "" or "ai.onnx")?.Version ?? modelOpset;
                Collect(f.Body, opset, f, result);
            }
        }
        return result;
    }

    private static void Collect(Graph g, long opset, Function? f, List<GraphScope> result)
    {
        result.Add(new GraphScope(g, opset, f));
        foreach (var n in g.Nodes)
            foreach (var sub in n.Subgraphs) Collect(sub, opset, f, result);
    }
}
