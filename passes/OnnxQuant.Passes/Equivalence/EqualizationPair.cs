using OnnxQuant.Ir;
using OnnxQuant.Passes.LinearLayers;

namespace OnnxQuant.Passes.Equivalence;

/// <summary>
/// Two linear layers where layer 1's output channel i reaches layer 2's input channel i through ops that commute
/// with a positive per-channel scale (f(x/s) = f(x)/s for s &gt; 0), and nothing else reads the tensors in between.
/// <see cref="Find"/> walks from a producer and says why a candidate is not such a pair.
/// </summary>
internal sealed record EqualizationPair(LinearLayer Producer, LinearLayer Consumer)
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

    /// <summary>
    /// The pair that starts at <paramref name="node"/>, or null with the reason it is none; a node that is not a
    /// linear layer with a constant weight gives null and no reason (it is no candidate).
    /// </summary>
    public static EqualizationPair? Find(Node node, out string? reason)
    {
        reason = null;
        if (LinearLayer.TryRead(node, out var producer) is not null) return null;
        var value = node.Outputs[0];
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
                reason = "a Concat joins branches (equalizing each branch against the consumer's input-row slice is not implemented)";
                return null;
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
                value = next.Outputs[0];
                continue;
            }
            if (LinearLayer.TryRead(next, out var consumer) is null && use.InputIndex == 0)
                return Check(producer!, consumer!, out reason) ? new EqualizationPair(producer!, consumer!) : null;
            reason = $"its output reaches {op} (input {use.InputIndex}), which is neither a linear layer's input nor an op that commutes with a per-channel scale";
            return null;
        }
    }

    private static bool Check(LinearLayer producer, LinearLayer consumer, out string? reason)
    {
        reason = Why(producer, consumer);
        return reason is null;
    }

    private static string? Why(LinearLayer producer, LinearLayer consumer)
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
        if (inputs != producer.OutputChannels)
            return $"layer 1 has {producer.OutputChannels} output channels but layer 2 reads {inputs}";
        return null;
    }
}
