using OnnxQuant.Ir;
using OnnxQuant.Passes.LinearLayers;

namespace OnnxQuant.Passes.Equivalence;

/// <summary>
/// One activation X of <see cref="SmoothQuantPass"/> with every linear layer that reads it (q, k and v read one
/// LayerNorm output): they are smoothed together with one scale vector s, since X is divided by s once. Either every
/// layer is a MatMul/Gemm (X's channels are its last axis) or every layer is an ungrouped Conv (X's channels are axis 1,
/// and input channel j owns the <see cref="Span"/> = kh·kw weights j·Span … (j+1)·Span − 1 of each row).
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

    /// <summary>True when the layers are Convs (channels on axis 1), false for MatMul/Gemm (last axis).</summary>
    public bool IsConv => Layers[0].Node.OpType == "Conv";

    /// <summary>The activation's channel axis as the calibrator takes it: 1 for a Conv's input, −1 (last) otherwise.</summary>
    public int ChannelAxis => IsConv ? 1 : -1;

    /// <summary>Weights per input channel in a row: the kernel's spatial size for a Conv, 1 otherwise.</summary>
    public int Span => IsConv ? Layers[0].K / (int)Layers[0].WeightTensor.Dims[1] : 1;

    /// <summary>The channels of <see cref="Activation"/> (rows of each layer's B; a Conv's input channels).</summary>
    public int K => Layers[0].K / Span;

    /// <summary>
    /// The activations read as x by a MatMul or Gemm with a constant weight (and, with <paramref name="conv"/>, by an
    /// ungrouped Conv with a constant weight), in graph order, each with its readers of that kind.
    /// </summary>
    public static List<SmoothQuantGroup> Candidates(Graph graph, bool conv = false)
    {
        var groups = new List<SmoothQuantGroup>();
        var seen = new HashSet<Value>();
        foreach (var node in graph.Nodes)
        {
            bool isConv = node.OpType == "Conv";
            if (!(node.OpType is "MatMul" or "Gemm" || conv && isConv) || node.Input(0) is not { IsConstant: false } x || !seen.Add(x)) continue;
            var layers = new List<LinearLayer>();
            foreach (var use in x.Uses)
                if (use.InputIndex == 0 && (isConv ? use.Node.OpType == "Conv" : use.Node.OpType is "MatMul" or "Gemm")
                    && LinearLayer.TryRead(use.Node, out var layer) is null && layer!.Groups == 1 && !layers.Any(l => l.Node == use.Node))
                    layers.Add(layer);
            if (layers.Count > 0) groups.Add(new SmoothQuantGroup(x, layers));
        }
        return groups;
    }

    /// <summary>Multiplies each layer row's entries of input channel j by <paramref name="scale"/>[j].</summary>
    public void ScaleRows(float[] rows, LinearLayer layer, float[] scale)
    {
        int span = Span, k = layer.K;
        for (int n = 0; n < layer.OutputChannels; n++)
            for (int j = 0; j < k; j++)
                rows[(long)n * k + j] *= scale[j / span];
    }

    /// <summary>Null when the group can be smoothed as a whole, else why not (a reason without node names, so equal reasons add up).</summary>
    public string? Refusal()
    {
        var x = Activation;
        if (x.IsAnyGraphOutput) return "the activation is a graph output, which would see the scaled tensor";
        var nodes = Layers.Select(l => l.Node).ToHashSet();
        if (x.Uses.Any(u => !nodes.Contains(u.Node) || u.InputIndex != 0))
            return IsConv
                ? "the activation has other readers (not an ungrouped Conv with a constant weight reading it as x), which would see the scaled tensor"
                : "the activation has other readers (not MatMul/Gemm with a constant weight reading it as x), which would see the scaled tensor";
        if (Layers.Any(l => l.K != Layers[0].K || IsConv && l.WeightTensor.Dims[1] != Layers[0].WeightTensor.Dims[1])) return "the layers reading the activation disagree on its channel count";
        if (x.ElementType is { } t && t != DataType.Float) return $"the activation is {t.OnnxName()}, not float";
        foreach (var byWeight in Layers.GroupBy(l => l.Weight))
            if (LinearLayer.SharingConflict(byWeight.ToList()) is not null)
                return "a weight is shared with a node outside the group (shared weights are never changed in place)";
        return null;
    }

    /// <summary>max_n |B_jn| over every layer of the group, per input channel j.</summary>
    public double[] WeightChannelAbsMax() => WeightChannelAbsMax(Layers.Select(l => l.ReadRows()).ToList());

    /// <summary><see cref="WeightChannelAbsMax()"/> from the layers' rows already read (<see cref="LinearLayer.ReadRows"/>, in <see cref="Layers"/> order).</summary>
    public double[] WeightChannelAbsMax(IReadOnlyList<float[]> layerRows)
    {
        var max = new double[K];
        int span = Span;
        for (int li = 0; li < Layers.Count; li++)
        {
            var layer = Layers[li];
            var rows = layerRows[li];
            int k = layer.K;
            for (int n = 0; n < layer.OutputChannels; n++)
                for (int j = 0; j < k; j++)
                    max[j / span] = Math.Max(max[j / span], Math.Abs(rows[(long)n * k + j]));
        }
        return max;
    }
}
