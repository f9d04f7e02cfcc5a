using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Quantization.Diffusion;

/// <summary>
/// Finds a denoiser's sensitive linear layers by the graph's structure instead of by node names (which differ from
/// one DiT implementation to the next):
/// <list type="bullet">
/// <item><b>Conditioning path</b>: layers whose activation input depends on no graph input of rank ≥ 3 (the noisy
/// sample x [b,c,h,w], or a token sequence such as text states [b,n,d]) but only on per-sample inputs (the timestep
/// t [b], a class y [b], a pooled embedding [b,d]): the timestep MLP and the adaLN modulation Linear layers. They run
/// one row per sample (negligible cost) and their output scales every token of a block, so their error is amplified.</item>
/// <item><b>Output layers</b>: layers from whose output a graph output is reached without passing another
/// MatMul/Gemm/Conv (the final projection back to the sample's channels): its error goes straight into ε.</item>
/// </list>
/// Only the main graph is examined; a value produced inside an If/Loop body is treated as depending on every input.
/// </summary>
public static class DenoiserStructure
{
    private static readonly HashSet<string> LinearOps = new(StringComparer.Ordinal) { "MatMul", "Gemm", "Conv", "MatMulInteger", "MatMulNBits" };

    /// <summary>The nodes of <paramref name="graph"/> whose first input does not depend on a rank ≥ 3 graph input.</summary>
    public static HashSet<Node> ConditioningPath(Graph graph)
    {
        var sampleDependent = new HashSet<Value>();
        foreach (var input in graph.Inputs)
            if (!input.IsConstant && (input.Shape is not { } shape || shape.Rank >= 3)) sampleDependent.Add(input);
        var result = new HashSet<Node>();
        foreach (var node in graph.Nodes) // topological order
        {
            bool depends = node.Inputs.Any(v => v is not null && sampleDependent.Contains(v)) || node.Subgraphs.Any();
            if (depends)
                foreach (var o in node.Outputs)
                    if (o is not null) sampleDependent.Add(o);
            if (node.Inputs.Count > 0 && node.Inputs[0] is { IsConstant: false } x && !sampleDependent.Contains(x)) result.Add(node);
        }
        return result;
    }

    /// <summary>The MatMul/Gemm/Conv nodes of <paramref name="graph"/> that reach a graph output through no other such node.</summary>
    public static HashSet<Node> OutputLayers(Graph graph)
    {
        var result = new HashSet<Node>();
        // Walk backwards from the outputs; stop at (and collect) the first linear node on each path.
        var seen = new HashSet<Value>();
        var stack = new Stack<Value>(graph.Outputs);
        while (stack.Count > 0)
        {
            var v = stack.Pop();
            if (!seen.Add(v) || v.Producer is not { } p || p.Graph != graph) continue;
            if (LinearOps.Contains(p.OpType))
            {
                result.Add(p);
                continue;
            }
            foreach (var i in p.Inputs)
                if (i is { IsConstant: false }) stack.Push(i);
        }
        return result;
    }
}
