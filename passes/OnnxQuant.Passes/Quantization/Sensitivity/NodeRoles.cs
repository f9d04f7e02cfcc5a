using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Quantization.Sensitivity;

/// <summary>
/// Puts each quantizable node in a group by op type and role, the classes the literature reports as sensitive
/// (onnxruntime#11286, optimum#151): <c>first</c> / <c>last</c> (no quantizable node before / after it),
/// <c>attention-scores</c> (Q·Kᵀ: both inputs are activations), <c>attention-values</c> (reads a Softmax),
/// <c>after-norm</c> (reads a LayerNorm/RMSNorm/BatchNorm/GroupNorm output), <c>after-activation</c> (reads
/// Gelu/Relu/Sigmoid/...: MLP down projections), <c>residual</c> (an Add of two activations), else <c>other</c>.
/// Convs are split further by kind (depthwise, 1x1, kxk). Reshape/Transpose/Squeeze/Unsqueeze between a node and its
/// producer are looked through.
/// </summary>
public static class NodeRoles
{
    private static readonly HashSet<string> Norms = new(StringComparer.Ordinal)
    {
        "LayerNormalization", "SimplifiedLayerNormalization", "SkipLayerNormalization", "RMSNormalization",
        "BatchNormalization", "GroupNormalization", "InstanceNormalization",
    };

    private static readonly HashSet<string> Activations = new(StringComparer.Ordinal)
    {
        "Gelu", "FastGelu", "BiasGelu", "Relu", "LeakyRelu", "Sigmoid", "Tanh", "HardSwish", "HardSigmoid", "Mish", "Elu", "Selu", "Softplus", "Mul",
    };

    private static readonly HashSet<string> PassThrough = new(StringComparer.Ordinal) { "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Flatten" };

    /// <summary>The group of every node in <paramref name="candidates"/> (nodes of <paramref name="graph"/>).</summary>
    public static Dictionary<Node, string> Classify(Graph graph, IReadOnlyCollection<Node> candidates)
    {
        var set = new HashSet<Node>(candidates);
        var hasCandidateBefore = new HashSet<Node>();
        // Forward pass in topological order: does a candidate reach this node?
        var reached = new HashSet<Value>();
        foreach (var node in graph.Nodes)
        {
            bool fromCandidate = node.Inputs.Any(v => v is not null && reached.Contains(v));
            if (fromCandidate) hasCandidateBefore.Add(node);
            if (fromCandidate || set.Contains(node))
                foreach (var o in node.Outputs) if (o is not null) reached.Add(o);
        }
        var hasCandidateAfter = new HashSet<Node>();
        var feeds = new HashSet<Value>();
        foreach (var node in graph.Nodes.Reverse())
        {
            bool toCandidate = node.Outputs.Any(v => v is not null && feeds.Contains(v));
            if (toCandidate) hasCandidateAfter.Add(node);
            if (toCandidate || set.Contains(node))
                foreach (var i in node.Inputs) if (i is not null) feeds.Add(i);
        }

        var groups = new Dictionary<Node, string>();
        foreach (var node in candidates)
        {
            string role =
                !hasCandidateBefore.Contains(node) ? "first"
                : !hasCandidateAfter.Contains(node) ? "last"
                : Role(node);
            groups[node] = $"{node.OpType}{ConvKind(node)} {role}";
        }
        return groups;
    }

    /// <summary>Convs differ by kind in what quantization costs them: " depthwise" (group &gt; 1), " 1x1", or " kxk".</summary>
    private static string ConvKind(Node node)
    {
        if (node.OpType is not ("Conv" or "ConvTranspose")) return "";
        if (node.GetInt("group", 1) > 1) return " depthwise";
        return node.Inputs[1]?.Const is { Rank: > 2 } w && w.Dims.Skip(2).All(d => d == 1) ? " 1x1" : " kxk";
    }

    private static string Role(Node node)
    {
        var inputs = node.Inputs.Take(2).Where(v => v is not null).Select(v => v!).ToList();
        var producers = inputs.Select(v => Source(v)?.OpType).ToList();
        if (producers.Contains("Softmax")) return "attention-values";
        bool twoActivations = inputs.Count == 2 && inputs.All(v => !v.IsConstant && !IsConstantChain(v));
        if (node.OpType is "MatMul" or "Gemm" && twoActivations) return "attention-scores";
        if (node.OpType == "Add" && twoActivations) return "residual";
        if (producers.Any(p => p is not null && Norms.Contains(p))) return "after-norm";
        if (producers.Any(p => p is not null && Activations.Contains(p))) return "after-activation";
        return "other";
    }

    private static Node? Source(Value v)
    {
        var p = v.Producer;
        while (p is not null && p.IsDefaultDomain && PassThrough.Contains(p.OpType) && p.Inputs[0] is { } src) p = src.Producer;
        return p;
    }

    private static bool IsConstantChain(Value v)
    {
        var p = v.Producer;
        while (p is not null && PassThrough.Contains(p.OpType) && p.Inputs[0] is { } src)
        {
            if (src.IsConstant) return true;
            p = src.Producer;
        }
        return false;
    }
}
