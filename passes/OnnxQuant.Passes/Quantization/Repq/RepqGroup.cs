using OnnxQuant.Ir;
using OnnxQuant.Passes.LinearLayers;

namespace OnnxQuant.Passes.Quantization.Repq;

/// <summary>
/// One LayerNorm output X of <see cref="RepqVitPass"/> with the linear layers that read it: directly (q/k/v, a fused
/// qkv, fc1) or through a Gather of tokens (the class token taken before the head), whose output keeps X's channels
/// and so gets the same per-tensor quantizer. Readers of X's shape alone (Shape) are allowed; anything else refuses.
/// </summary>
internal sealed class RepqGroup
{
    private RepqGroup(Node layerNorm, List<LinearLayer> layers, List<Value> gathered, string? refusal)
    {
        LayerNorm = layerNorm;
        Layers = layers;
        Gathered = gathered;
        Refusal = refusal;
    }

    public Node LayerNorm { get; }
    public Value Activation => LayerNorm.Outputs[0]!;

    /// <summary>Every MatMul/Gemm reading X (or a gathered X) as x.</summary>
    public List<LinearLayer> Layers { get; }

    /// <summary>Outputs of token Gathers of X that the layers read: quantized with X's parameters.</summary>
    public List<Value> Gathered { get; }

    /// <summary>Why the group cannot be reparameterized (a reason without names, so equal reasons add up), or null.</summary>
    public string? Refusal { get; }

    public int K => Layers[0].K;

    /// <summary>The groups of every LayerNormalization of <paramref name="graph"/> that has at least one linear reader.</summary>
    public static List<RepqGroup> Of(Graph graph)
    {
        var groups = new List<RepqGroup>();
        foreach (var ln in graph.Nodes)
        {
            if (ln.OpType != "LayerNormalization" || !ln.IsDefaultDomain || ln.Outputs[0] is not { } x) continue;
            var layers = new List<LinearLayer>();
            var gathered = new List<Value>();
            string? refusal = x.IsAnyGraphOutput ? "the LayerNorm output is a graph output, which would see the reparameterized tensor" : null;
            foreach (var use in x.Uses)
            {
                var node = use.Node;
                if (node.OpType == "Shape") continue;
                if (use.InputIndex == 0 && Linear(node) is { } layer)
                {
                    layers.Add(layer);
                    continue;
                }
                if (use.InputIndex == 0 && node.OpType == "Gather" && node.IsDefaultDomain && node.Input(1) is { IsConstant: true }
                    && x.Shape is { } shape && node.GetInt("axis", 0) is var axis && axis != -1 && axis != shape.Rank - 1
                    && !node.Output.IsAnyGraphOutput && node.Output.Uses.Count > 0
                    && node.Output.Uses.All(u => u.InputIndex == 0 && Linear(u.Node) is not null))
                {
                    gathered.Add(node.Output);
                    layers.AddRange(node.Output.Uses.Select(u => Linear(u.Node)!));
                    continue;
                }
                refusal ??= "the LayerNorm output has other readers (not MatMul/Gemm with a constant weight reading it as x, a token Gather before one, or Shape), which would see the reparameterized tensor";
            }
            if (layers.Count == 0) continue;
            if (refusal is null && layers.Any(l => l.K != layers[0].K)) refusal = "the layers reading the LayerNorm output disagree on its channel count";
            if (refusal is null && x.ElementType is { } t && t != DataType.Float) refusal = $"the LayerNorm output is {t.OnnxName()}, not float";
            if (refusal is null)
                foreach (var byWeight in layers.GroupBy(l => l.Weight))
                    if (LinearLayer.SharingConflict(byWeight.ToList()) is not null)
                        refusal = "a weight is shared with a node outside the group (shared weights are never changed in place)";
            groups.Add(new RepqGroup(ln, layers, gathered, refusal));
        }
        return groups;
    }

    private static LinearLayer? Linear(Node node) =>
        node.OpType is "MatMul" or "Gemm" && node.IsDefaultDomain && LinearLayer.TryRead(node, out var layer) is null && layer!.Groups == 1 ? layer : null;
}
