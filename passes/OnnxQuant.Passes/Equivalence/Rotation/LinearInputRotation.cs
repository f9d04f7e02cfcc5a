using OnnxQuant.Ir;
using OnnxQuant.Passes.LinearLayers;
using OnnxQuant.Passes.Numerics;
using OnnxQuant.Passes.Quantization;
using OnnxQuant.Passes.Quantization.Diffusion;

namespace OnnxQuant.Passes.Equivalence.Rotation;

/// <summary>
/// ViDiT-Q's rotation-based channel balancing (Zhao et al. 2024, "ViDiT-Q: Efficient and Accurate Quantization of
/// Diffusion Transformers for Image and Video Generation", §4.3): the input of every linear layer is rotated online,
/// x·B = (x·H)·(Hᵀ·B) with H the normalized Hadamard matrix of order K, so a channel outlier whose position moves with
/// the timestep is spread over all K channels at every timestep, where a static per-channel scale (smooth-quant) can
/// only follow its average. A DiT's residual stream cannot be rotated once as QuaRot does: adaLN multiplies the
/// normalized stream by a computed per-sample scale and gates every branch by another, which do not commute with a
/// rotation, so the rotation sits at each layer's input (the layers reading one tensor — q, k and v — share one
/// x·H). These are the layers it selects; <see cref="RotatePass"/> (<c>online-inputs: true</c>) folds Hᵀ and inserts
/// the MatMuls.
/// <para>
/// A layer is selected when it is a MatMul/Gemm with a constant 2-D weight reading a computed tensor, its input width
/// has a Hadamard matrix, it was not already rotated per head (an out-projection), and it is not excluded
/// (<c>exclude-nodes</c>, or by structure: <c>exclude-conditioning-path</c>, <c>exclude-output-layers</c>, the layers
/// the diffusion presets keep float, whose rotation would only cost). Otherwise the reason is recorded under
/// <c>rotate.online</c>.
/// </para>
/// </summary>
internal static class LinearInputRotation
{
    /// <summary>The tensors to rotate online, in graph order, each with the layers reading it and its width.</summary>
    public static List<(Value Input, List<Node> Readers, int K)> Find(Graph graph, RotateOptions options,
        ISet<Node> rotatedPerHead, PassContext context)
    {
        var excluded = Exclusions(graph, options);
        var groups = new List<(Value Input, List<Node> Readers, int K)>();
        var byInput = new Dictionary<Value, int>();
        foreach (var node in graph.Nodes)
        {
            if (!node.IsDefaultDomain || node.OpType is not ("MatMul" or "Gemm") || rotatedPerHead.Contains(node)) continue;
            if (LinearLayer.TryRead(node, out var layer) is not null || node.Inputs[0] is not { IsConstant: false } x) continue;
            if (layer!.Groups != 1)
            {
                context.RecordMiss("online", "a batched MatMul (weight of rank > 2) is not rotated");
                continue;
            }
            if (excluded(node) is { } why)
            {
                context.RecordMiss("online", why);
                continue;
            }
            if (!Hadamard.IsSupportedOrder(layer.K))
            {
                context.RecordMiss("online", $"input width {layer.K} has no Hadamard matrix ({Hadamard.SupportedOrdersText})");
                continue;
            }
            if (byInput.TryGetValue(x, out int index)) groups[index].Readers.Add(node);
            else
            {
                byInput[x] = groups.Count;
                groups.Add((x, [node], layer.K));
            }
        }
        return groups;
    }

    /// <summary>Why a layer's input is not rotated (null: it is), from the exclusion options.</summary>
    public static Func<Node, string?> Exclusions(Graph graph, RotateOptions options)
    {
        var globs = options.ExcludeNodes.Select(NameGlob.Compile).ToList();
        var structural = StructuralExclusions.Of(graph, options.ExcludeConditioningPath, options.ExcludeOutputLayers);
        return node =>
            NameGlob.AnyMatches(globs, node) ? "excluded by exclude-nodes"
            : structural.TryGetValue(node, out var reason)
                ? reason == "output-layer" ? "an output layer (exclude-output-layers)" : "on the conditioning path (exclude-conditioning-path)"
                : null;
    }
}
