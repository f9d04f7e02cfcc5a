using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Analysis.ShapeInference;

/// <summary>
/// Static shape and type inference. Each op's rule (one file per op family in this folder) computes its outputs'
/// element types and shapes from its inputs; small integer values are followed through shape computations
/// (<see cref="DataPropagation"/>) so Reshape/Expand/Slice targets built from <c>Shape</c> are known, symbolically
/// where sizes are symbolic. Results are merged into <see cref="Value.Type"/> without contradicting what the model
/// declares (<see cref="TypeMerge"/>). Subgraphs are inferred before the node that owns them. Graph inputs and
/// constants are never changed; model-local functions are left alone (their inputs have no types).
/// </summary>
public static class ShapeInference
{
    /// <summary>Sweeps stop earlier once nothing changes; more than one is needed only for unsorted graphs.</summary>
    private const int MaxSweeps = 4;

    /// <summary>
    /// Infers the output types of one node (and of the nodes in its subgraphs) from its inputs' current types, and
    /// merges them into the outputs. <paramref name="opset"/> is the model's default-domain opset. Returns true when
    /// some output's type changed. For passes that create nodes and want their outputs typed.
    /// </summary>
    public static bool InferNode(Node node, int opset) => InferNode(node, opset, new SymbolicEvaluator(opset), null) > 0;

    /// <summary>Infers every graph of the model (main graph and subgraphs) until nothing changes.</summary>
    public static ShapeInferenceStats Run(Model model)
    {
        int opset = (int)(model.GetOpset("") ?? 1);
        var stats = new ShapeInferenceStats();
        for (int sweep = 1; sweep <= MaxSweeps; sweep++)
        {
            stats.Sweeps = sweep;
            int changed = InferGraph(model.Graph, opset, new SymbolicEvaluator(opset), stats);
            stats.Refined += changed;
            if (changed == 0) break;
        }
        Measure(model.Graph, stats);
        return stats;
    }

    internal static int InferGraph(Graph graph, int opset, SymbolicEvaluator evaluator, ShapeInferenceStats? stats)
    {
        int changed = 0;
        foreach (var node in graph.Nodes) changed += InferNode(node, opset, evaluator, stats);
        return changed;
    }

    internal static int InferNode(Node node, int opset, SymbolicEvaluator evaluator, ShapeInferenceStats? stats)
    {
        int changed = 0;
        var context = new NodeShapeContext(node, opset, evaluator);
        if (node.Subgraphs.Any())
        {
            ControlFlowRules.PrepareBodies(context);
            foreach (var body in node.Subgraphs) changed += InferGraph(body, opset, evaluator, stats);
        }
        if (ShapeRules.Find(node.Domain, node.OpType) is not { } rule)
        {
            stats?.AddUnsupported(node);
            return changed;
        }
        rule(context);
        for (int i = 0; i < context.Results.Length; i++)
        {
            if (context.Results[i] is not { } inferred || node.Outputs[i] is not { } output) continue;
            var merged = TypeMerge.Merge(output.Type, inferred, out bool conflict);
            if (conflict) stats?.AddConflict(node, output, output.Type, inferred);
            if (Equals(merged, output.Type)) continue;
            output.Type = merged;
            evaluator.Forget(output);
            changed++;
        }
        return changed;
    }

    private static void Measure(Graph graph, ShapeInferenceStats stats)
    {
        foreach (var node in graph.Nodes)
            foreach (var v in node.Outputs)
            {
                if (v is null || v.Type is not (null or TensorType or UnspecifiedType)) continue;
                stats.Values++;
                if (v.Type is TensorType t)
                {
                    stats.TypedValues++;
                    if (t.Shape is { IsStatic: true }) stats.StaticValues++;
                }
            }
    }
}
