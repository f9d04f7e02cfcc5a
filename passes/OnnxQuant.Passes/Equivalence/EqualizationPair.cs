using OnnxQuant.Ir;
using OnnxQuant.Passes.LinearLayers;

namespace OnnxQuant.Passes.Equivalence;

/// <summary>
/// Two linear layers where layer 1's output channel i reaches layer 2's input channel <see cref="Offset"/> + i through
/// ops that commute with a positive per-channel scale (f(x/s) = f(x)/s for s &gt; 0) and Concats along the channel axis
/// (a U-Net skip connection: layer 1's channels are one slice of layer 2's input rows), and nothing else reads the
/// tensors in between. <see cref="Find"/> walks from a producer and says why a candidate is not such a pair.
/// <see cref="Between"/> lists the ops passed, so high-bias absorption can check that a shift commutes with them too.
/// </summary>
internal sealed record EqualizationPair(LinearLayer Producer, LinearLayer Consumer, int Offset, IReadOnlyList<Node> Between)
{
    /// <summary>Ops that commute with a positive per-channel scale of their input along the channel axis.</summary>
    private static readonly HashSet<string> Commuting = ["Relu", "LeakyRelu", "MaxPool", "Identity"];

    /// <summary>Ops seen between layers that do not commute with a per-channel scale, named in the reason.</summary>
    private static readonly HashSet<string> NonCommuting =
    [
        "Sigmoid", "Tanh", "HardSwish", "HardSigmoid", "Gelu", "Erf", "Silu", "Mish", "Elu", "Selu", "Softplus", "Clip",
        "BatchNormalization", "InstanceNormalization", "LayerNormalization", "GroupNormalization", "RMSNormalization",
        "SimplifiedLayerNormalization", "Softmax", "AveragePool", "GlobalAveragePool",
    ];

    /// <summary>True when the pair's path joins other branches through a Concat.</summary>
    public bool ThroughConcat => Between.Any(n => n.OpType == "Concat");

    /// <summary>
    /// The pair that starts at <paramref name="node"/>, or null with the reason it is none; a node that is not a
    /// linear layer with a constant weight gives null and no reason (it is no candidate).
    /// </summary>
    public static EqualizationPair? Find(Node node, out string? reason)
    {
        reason = null;
        if (LinearLayer.TryRead(node, out var producer) is not null) return null;
        var value = node.Outputs[0];
        // Where layer 1's channel 0 sits in the tensor walked, and how many channels that tensor has.
        int offset = 0, width = producer!.OutputChannels;
        var between = new List<Node>();
        while (true)
        {
            if (value is null) { reason = "the layer has no output"; return null; }
            if (value.IsAnyGraphOutput)
            {
                reason = "a tensor between the layers is a graph output, which would see the scaled tensor";
                return null;
            }
            if (value.Uses.Count == 0) { reason = "its output is not read"; return null; }
            if (value.Uses.Count > 1)
            {
                reason = "a tensor between the layers has another consumer that would see the scaled tensor";
                return null;
            }
            var use = value.Uses[0];
            var next = use.Node;
            string op = next.OpType;
            if (!next.IsDefaultDomain) { reason = $"its output reaches {next.Domain}.{op}, which is not known to commute with a per-channel scale"; return null; }
            if (op == "Concat")
            {
                if (ConcatSlice(producer, value, next, use.InputIndex, out reason) is not { } slice) return null;
                offset += slice.Before;
                width = slice.Total;
                between.Add(next);
                value = next.Outputs[0];
                continue;
            }
            if (NonCommuting.Contains(op))
            {
                reason = $"its output passes through {op}, which does not commute with a positive per-channel scale";
                return null;
            }
            if (Commuting.Contains(op) && use.InputIndex == 0)
            {
                if (next.Outputs.Skip(1).Any(o => o is not null && (o.Uses.Count > 0 || o.IsAnyGraphOutput)))
                {
                    reason = $"{op}'s second output is used";
                    return null;
                }
                between.Add(next);
                value = next.Outputs[0];
                continue;
            }
            if (LinearLayer.TryRead(next, out var consumer) is null && use.InputIndex == 0)
            {
                reason = Why(producer, consumer!, width);
                return reason is null ? new EqualizationPair(producer, consumer!, offset, between) : null;
            }
            reason = $"its output reaches {op} (input {use.InputIndex}), which is neither a linear layer's input nor an op that commutes with a per-channel scale";
            return null;
        }
    }

    /// <summary>
    /// Where input <paramref name="index"/> of <paramref name="concat"/> lands along the channel axis: the channels of
    /// the inputs before it and of all inputs. Null (with the reason) when the Concat is not along the channel axis
    /// (1 for a Conv's NCHW tensors, the last axis for MatMul/Gemm) or an input's channel count is not known.
    /// </summary>
    private static (int Before, int Total)? ConcatSlice(LinearLayer producer, Value value, Node concat, int index, out string? reason)
    {
        reason = null;
        bool conv = producer.Node.OpType == "Conv";
        int? rank = value.Shape?.Rank ?? (conv ? producer.WeightTensor.Rank : producer.Node.OpType == "Gemm" ? 2 : null);
        long axis = concat.GetInt("axis", 0);
        if (axis < 0 && rank is { } r) axis += r;
        bool channelAxis = conv ? axis == 1 : rank is { } r2 ? axis == r2 - 1 : axis == -1;
        if (!channelAxis)
        {
            reason = $"a Concat joins branches along axis {concat.GetInt("axis", 0)}, not the channel axis";
            return null;
        }
        int before = 0, total = 0;
        for (int i = 0; i < concat.Inputs.Count; i++)
        {
            var input = concat.Inputs[i];
            int? channels = input is null ? null : ReferenceEquals(input, value) && i == index ? producer.OutputChannels : Channels(input, conv ? 1 : -1);
            if (channels is not { } c)
            {
                reason = $"the channel count of Concat input {i} is not known (run infer-shapes first)";
                return null;
            }
            if (i < index) before += c;
            total += c;
        }
        return (before, total);
    }

    /// <summary>
    /// The size of <paramref name="value"/>'s channel axis (1, or −1 for the last): from its recorded shape, else traced
    /// back through ops that keep channels (the activations, normalizations and poolings listed here, Concat) to a linear layer; null when unknown.
    /// </summary>
    private static int? Channels(Value value, int axis)
    {
        if (value.Shape is { } shape && shape.Rank > 0)
        {
            var dim = shape[axis < 0 ? shape.Rank - 1 : axis];
            if (dim.Value is { } known) return (int)known;
        }
        if (value.Producer is not { } node) return null;
        if (LinearLayer.TryRead(node, out var layer) is null && value.OutputIndex == 0 && layer!.OutputChannelAxis >= 0)
            return layer.OutputChannels;
        // Every op of both lists maps its input 0 to an output with the same channels.
        if ((Commuting.Contains(node.OpType) || NonCommuting.Contains(node.OpType)) && node.Inputs.Count > 0 && node.Inputs[0] is { } input)
            return Channels(input, axis);
        if (node.OpType == "Concat")
        {
            int sum = 0;
            foreach (var i in node.Inputs)
                if (i is null || Channels(i, axis) is not { } c) return null;
                else sum += c;
            return sum;
        }
        return null;
    }

    private static string? Why(LinearLayer producer, LinearLayer consumer, int width)
    {
        bool convs = producer.Node.OpType == "Conv", consumerConv = consumer.Node.OpType == "Conv";
        if (convs != consumerConv)
            return $"a {producer.Node.OpType} feeds a {consumer.Node.OpType}: their channel axes differ";
        if (producer.OutputChannelAxis < 0) return "layer 1 is a batched MatMul (no single output-channel axis)";
        if (consumer.OutputChannelAxis < 0) return "layer 2 is a batched MatMul (no single input-channel axis)";
        if (LinearLayer.SharingConflict([producer]) is not null) return "layer 1's weight is shared with another node";
        if (LinearLayer.SharingConflict([consumer]) is not null) return "layer 2's weight is shared with another node";
        if (producer.ReadBias() is not { } bias) return "layer 1's bias is not a per-channel constant";
        if (producer.Bias?.Const is { } b && b.ElementCount != bias.Length) return "layer 1's bias is one value broadcast to every channel";
        int inputs = consumer.Node.OpType == "Conv" ? consumer.Groups * (int)consumer.WeightTensor.Dims[1] : consumer.K;
        if (inputs != width)
            return width == producer.OutputChannels
                ? $"layer 1 has {producer.OutputChannels} output channels but layer 2 reads {inputs}"
                : $"the Concat holding layer 1's channels has {width} channels but layer 2 reads {inputs}";
        return null;
    }
}
