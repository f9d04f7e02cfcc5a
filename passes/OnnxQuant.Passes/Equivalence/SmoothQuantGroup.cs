using OnnxQuant.Ir;
using OnnxQuant.Passes.LinearLayers;

namespace OnnxQuant.Passes.Equivalence;

/// <summary>
/// One activation X of <see cref="SmoothQuantPass"/> with every linear layer that reads it (q, k and v read one
/// LayerNorm output): they are smoothed together with one scale vector s, since X is divided by s once.
/// </summary>
internal sealed class SmoothQuantGroup
{
    private SmoothQuantGroup(Value activation, List<LinearLayer> layers)
    {
        Activation = activation;
        Layers = layers;
    }

    public Value Activation { get; }

    /// <summary>The MatMul/Gemm nodes reading <see cref="Activation"/> as x, in graph order.</summary>
    public List<LinearLayer> Layers { get; }

    /// <summary>Rows of each layer's B: the channels of <see cref="Activation"/>.</summary>
    public int K => Layers[0].K;

    /// <summary>The activations read as x by a MatMul or Gemm with a constant weight, in graph order, each with its readers.</summary>
    public static List<SmoothQuantGroup> Candidates(Graph graph)
    {
        var groups = new List<SmoothQuantGroup>();
        var seen = new HashSet<Value>();
        foreach (var node in graph.Nodes)
        {
            if (node.OpType is not ("MatMul" or "Gemm") || node.Input(0) is not { IsConstant: false } x || !seen.Add(x)) continue;
            var layers = new List<LinearLayer>();
            foreach (var use in x.Uses)
                if (use.InputIndex == 0 && use.Node.OpType is "MatMul" or "Gemm" && LinearLayer.TryRead(use.Node, out var layer) is null
                    && layer!.Groups == 1 && !layers.Any(l => l.Node == use.Node))
                    layers.Add(layer);
            if (layers.Count > 0) groups.Add(new SmoothQuantGroup(x, layers));
        }
        return groups;
    }

    /// <summary>Null when the group can be smoothed as a whole, else why not (a reason without node names, so equal reasons add up).</summary>
    public string? Refusal()
    {
        var x = Activation;
        if (x.IsAnyGraphOutput) return "the activation is a graph output, which would see the scaled tensor";
        var nodes = Layers.Select(l => l.Node).ToHashSet();
        if (x.Uses.Any(u => !nodes.Contains(u.Node) || u.InputIndex != 0))
            return "the activation has other readers (not MatMul/Gemm with a constant weight reading it as x), which would see the scaled tensor";
        if (Layers.Any(l => l.K != K)) return "the layers reading the activation disagree on its channel count";
        if (x.ElementType is { } t && t != DataType.Float) return $"the activation is {t.OnnxName()}, not float";
        foreach (var byWeight in Layers.GroupBy(l => l.Weight))
            if (LinearLayer.SharingConflict(byWeight.ToList()) is not null)
                return "a weight is shared with a node outside the group (shared weights are never changed in place)";
        return null;
    }

    /// <summary>max_n |B_jn| over every layer of the group, per input channel j.</summary>
    public double[] WeightChannelAbsMax()
    {
        var max = new double[K];
        foreach (var layer in Layers)
        {
            var rows = layer.ReadRows();
            for (int n = 0; n < layer.OutputChannels; n++)
                for (int j = 0; j < K; j++)
                    max[j] = Math.Max(max[j], Math.Abs(rows[(long)n * K + j]));
        }
        return max;
    }
}
