using OnnxQuant.Ir;
using OnnxQuant.Passes.LinearLayers;

namespace OnnxQuant.Passes.Equivalence.Rotation;

/// <summary>
/// The residual stream of a pre-norm transformer, found from its normalizations: every tensor of width d that is a sum
/// of terms written by linear layers (attention out-projection, fc2/down-projection, patch embedding), constants
/// (biases, position embeddings, the cls token, an embedding table read by Gather) and that only normalizations,
/// linear layers and shape-preserving ops along other axes (Add, Concat, Gather, Expand) read. Multiplying every
/// writer and constant term on the right by an orthogonal Q and every reader on the left by Qᵀ leaves the model's
/// function unchanged, provided each normalization commutes with Q (RMS norm with γ = 1 does).
/// </summary>
internal sealed class ResidualStream
{
    private ResidualStream(int width) => Width = width;

    /// <summary>d, the stream's last dimension.</summary>
    public int Width { get; }

    /// <summary>Every tensor of the stream.</summary>
    public HashSet<Value> Values { get; } = [];

    /// <summary>Linear layers whose output is part of the stream (their output columns are rotated).</summary>
    public List<Node> Writers { get; } = [];

    /// <summary>Constant inputs whose last axis is the stream's (a bias, a position embedding, an embedding table).</summary>
    public List<(Node Node, int Input)> ConstantTerms { get; } = [];

    /// <summary>LayerNormalization / RMS norm nodes reading the stream, with the linear layers reading each output.</summary>
    public List<(Node Norm, List<Node> Readers)> Norms { get; } = [];

    /// <summary>Linear layers reading the stream itself (no norm between).</summary>
    public List<Node> DirectReaders { get; } = [];

    /// <summary>True when the norms are LayerNormalization (the stream is then made zero-mean), false for RMS norms.</summary>
    public bool IsLayerNorm { get; private set; }

    public static bool IsNorm(Node node) =>
        node.IsDefaultDomain && node.OpType is "LayerNormalization" or "RMSNormalization" or "SimplifiedLayerNormalization";

    /// <summary>Null when the graph has one residual stream this rotation can handle (then <paramref name="stream"/>), else why not.</summary>
    public static string? TryFind(Graph graph, out ResidualStream? stream)
    {
        stream = null;
        var norms = graph.Nodes.Where(IsNorm).ToList();
        if (norms.Count == 0) return "the model has no LayerNormalization or RMS norm (run the cleanup passes first, or it is not a transformer)";
        var layerNorms = norms.Count(n => n.OpType == "LayerNormalization");
        if (layerNorms != 0 && layerNorms != norms.Count) return "the model mixes LayerNormalization and RMS norms";
        if (NormWidth(norms[0]) is not { } width) return $"{norms[0]} has no constant scale of one dimension";
        var found = new ResidualStream(width) { IsLayerNorm = layerNorms > 0 };
        var why = found.Explore(norms.Select(n => n.Inputs[0]!));
        if (why is not null) return why;
        stream = found;
        return null;
    }

    private static int? NormWidth(Node norm) =>
        norm.Input(1)?.Const is { Rank: 1 } gamma ? (int)gamma.Dims[0] : null;

    private string? Explore(IEnumerable<Value> seeds)
    {
        var queue = new Queue<Value>();
        var producersSeen = new HashSet<Node>();
        string? Push(Value v)
        {
            if (v.Const is not null) return $"{v} is a constant where the stream was expected";
            if (Values.Add(v)) queue.Enqueue(v);
            return null;
        }
        foreach (var seed in seeds)
            if (Push(seed) is { } why) return why;
        while (queue.Count > 0)
        {
            var v = queue.Dequeue();
            if (v.IsAnyGraphOutput) return $"the residual stream {v} is a graph output";
            if (v.IsGraphInput || v.Producer is null) return $"the residual stream {v} is a graph input";
            if (LastDim(v) is { } last && last != Width) return $"the residual stream {v} has last dimension {last}, not the norms' {Width}";

            var p = v.Producer;
            if (producersSeen.Add(p) && Producer(p, v, Push) is { } whyProducer) return whyProducer;
            foreach (var use in v.Uses.ToList())
                if (Consumer(use.Node, use.InputIndex, v, Push) is { } whyConsumer) return whyConsumer;
        }
        return null;
    }

    private string? Term(Node node, int input, Func<Value, string?> push)
    {
        var value = node.Inputs[input]!;
        if (value.Const is not { } c) return push(value);
        if (c.Rank == 0 || c.Dims[^1] != Width)
            return $"{node} adds the constant {value} of shape [{string.Join(",", c.Dims)}] to the residual stream: its last axis is not {Width}";
        if (ConstantTerms.All(t => t.Node != node || t.Input != input)) ConstantTerms.Add((node, input));
        return null;
    }

    private string? Producer(Node p, Value v, Func<Value, string?> push)
    {
        switch (p.OpType)
        {
            case "Add" when p.IsDefaultDomain:
                for (int i = 0; i < p.Inputs.Count; i++)
                    if (Term(p, i, push) is { } why) return why;
                return null;
            case "Concat" when p.IsDefaultDomain && !OnLastAxis(p, v):
                for (int i = 0; i < p.Inputs.Count; i++)
                    if (Term(p, i, push) is { } why) return why;
                return null;
            case "Gather" when p.IsDefaultDomain && !OnLastAxis(p, p.Inputs[0]!):
            case "Expand" when p.IsDefaultDomain:
                return Term(p, 0, push);
            case "Transpose" when p.IsDefaultDomain && ConvPatchEmbedding(p) is { } conv:
                Writers.Add(conv);
                return null;
        }
        if (LinearLayer.TryRead(p, out var layer) is null && p.OpType is "MatMul" or "Gemm")
        {
            if (layer!.Groups != 1) return $"{p} writes the residual stream with a batched weight";
            if (layer.N != Width) return $"{p} writes the residual stream with {layer.N} output channels, not {Width}";
            Writers.Add(p);
            return null;
        }
        return $"the residual stream {v} is produced by {p}, which the rotation does not go through";
    }

    private string? Consumer(Node node, int input, Value v, Func<Value, string?> push)
    {
        if (ReadsShapeOnly(node)) return null;
        switch (node.OpType)
        {
            case "Add" when node.IsDefaultDomain:
                return push(node.Output);
            case "Concat" when node.IsDefaultDomain && !OnLastAxis(node, v):
            case "Gather" when node.IsDefaultDomain && input == 0 && !OnLastAxis(node, v):
            case "Expand" when node.IsDefaultDomain && input == 0:
                return push(node.Output);
        }
        if (IsNorm(node) && input == 0) return AddNorm(node);
        if (input == 0 && LinearLayer.TryRead(node, out var layer) is null && node.OpType is "MatMul" or "Gemm")
        {
            if (layer!.Groups != 1 || layer.K != Width) return $"{node} reads the residual stream but its weight is not {Width}×N";
            if (IsLayerNorm) return $"{node} reads the residual stream of a LayerNorm model directly (the stream is made zero-mean, which it would see)";
            if (!DirectReaders.Contains(node)) DirectReaders.Add(node);
            return null;
        }
        return $"the residual stream {v} is read by {node}, which the rotation does not go through";
    }

    private string? AddNorm(Node norm)
    {
        if (Norms.Any(n => n.Norm == norm)) return null;
        if (NormWidth(norm) != Width) return $"{norm} normalizes {NormWidth(norm)?.ToString() ?? "an unknown number of"} channels, not {Width}";
        long axis = norm.GetInt("axis", -1);
        var rank = norm.Inputs[0]!.Shape?.Rank;
        if (axis != -1 && (rank is null || axis != rank - 1)) return $"{norm} normalizes over axis {axis}, not the last";
        if (norm.OpType == "LayerNormalization" && norm.Input(2) is { } beta && beta.Const is not { Rank: 1 })
            return $"{norm}'s bias {beta} is not a constant vector";
        if (norm.Outputs.Skip(1).Any(o => o is not null && (o.Uses.Count > 0 || o.IsAnyGraphOutput)))
            return $"{norm}'s mean or inverse standard deviation output is read";
        var readers = new List<Node>();
        if (NormReaders(norm, norm.Outputs[0]!, readers) is { } why) return why;
        Norms.Add((norm, readers));
        return null;
    }

    /// <summary>
    /// The linear layers reading <paramref name="norm"/>'s output <paramref name="v"/>, directly or through Gather,
    /// Reshape, Squeeze, Unsqueeze on other axes (a ViT's cls-token pick before the head): they see the same
    /// channels, so γ folds into them and Qᵀ applies to them.
    /// </summary>
    private string? NormReaders(Node norm, Value v, List<Node> readers)
    {
        if (v.IsAnyGraphOutput) return $"{norm}'s output is a graph output";
        foreach (var use in v.Uses)
        {
            var node = use.Node;
            if (ReadsShapeOnly(node)) continue;
            if (use.InputIndex == 0 && node.IsDefaultDomain && node.OpType is "Gather" or "Reshape" or "Squeeze" or "Unsqueeze" or "Identity"
                && node.Output.Shape is { Rank: > 0 } s && s[s.Rank - 1].Value == Width && LastDim(v) == Width
                && (node.OpType != "Gather" || !OnLastAxis(node, v)))
            {
                if (NormReaders(norm, node.Output, readers) is { } why) return why;
                continue;
            }
            if (use.InputIndex != 0 || LinearLayer.TryRead(node, out var layer) is not null || node.OpType is not ("MatMul" or "Gemm"))
                return $"{norm}'s output is read by {node}, not as the input of a MatMul/Gemm with a constant weight (γ cannot be folded)";
            if (layer!.Groups != 1 || layer.K != Width) return $"{node} reads {norm}'s output but its weight is not {Width}×N";
            if (!readers.Contains(node)) readers.Add(node);
        }
        return null;
    }

    /// <summary>
    /// A ViT patch embedding: Transpose(perm [0, 2, 1]) of Reshape([b, M, h, w] → [b, M, h·w]) of a Conv with M = d
    /// output channels and a constant weight, each intermediate read once: the Conv's output channels are the stream's.
    /// </summary>
    private Node? ConvPatchEmbedding(Node transpose)
    {
        if (transpose.GetInts("perm") is not [0, 2, 1]) return null;
        if (transpose.Inputs[0]!.Producer is not { OpType: "Reshape" } reshape || reshape.Output.Uses.Count != 1) return null;
        if (reshape.Inputs[0]!.Producer is not { OpType: "Conv" } conv || conv.Output.Uses.Count != 1 || conv.Output.IsAnyGraphOutput) return null;
        if (conv.Output.Shape is not { Rank: >= 3 } cs || cs[1].Value != Width) return null;
        if (reshape.Output.Shape is not { Rank: 3 } rs || rs[1].Value != Width) return null;
        return LinearLayer.TryRead(conv, out var layer) is null && layer!.Groups == 1 && layer.N == Width ? conv : null;
    }

    /// <summary>Shape and Size read only the shape, which no rotation changes.</summary>
    public static bool ReadsShapeOnly(Node node) => node.IsDefaultDomain && node.OpType is "Shape" or "Size";

    private static long? LastDim(Value v) => v.Shape is { Rank: > 0 } s && s[s.Rank - 1].IsKnown ? s[s.Rank - 1].Value : null;

    /// <summary>Whether the Concat or Gather <paramref name="node"/> works on the last axis of <paramref name="data"/>
    /// (unknown rank counts as the last: the rotation would not be exact).</summary>
    private static bool OnLastAxis(Node node, Value data)
    {
        long axis = node.GetInt("axis", 0);
        if (data.Shape is not { } s) return true;
        return axis == -1 || axis == s.Rank - 1;
    }
}
