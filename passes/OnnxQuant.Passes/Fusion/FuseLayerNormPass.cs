using OnnxQuant.Ir;
using static OnnxQuant.Passes.Fusion.FusionPatterns;

namespace OnnxQuant.Passes.Fusion;

/// <summary>
/// Fuses a decomposed layer normalization over the last axis into one <c>LayerNormalization</c> (opset ≥ 17):
/// <code>
/// m = ReduceMean(x); d = Sub(x, m); v = ReduceMean(Pow(d, 2) | Mul(d, d)); s = Sqrt(Add(v, ε))
/// n = Div(d, s) | Mul(d, Reciprocal(s)) | Mul(d, Div(1, s));  y = Add(Mul(n, γ), β)
/// </code>
/// which is <c>LayerNormalization(x, γ, β, axis=-1, epsilon=ε)</c> by definition (ONNX LayerNormalization-17 with its
/// default stash_type=1 computes in float, as the float decomposition does). Keeping the norm whole matters for
/// quantization: a decomposed LayerNorm quantized op by op loses transformer accuracy (onnxruntime#16219).
/// <para>
/// Fires when both reductions are over the last axis with keepdims (axes as attribute before opset 18, as input
/// after), ε is a one-element float constant, every intermediate has exactly one consumer in the same graph (the
/// centered value d exactly two: the square and the division) and is no graph output, and γ/β are float constants
/// per channel of the last axis. γ and β are optional (γ then becomes ones, which needs x's last dimension known).
/// Assumes x's last dimension equals γ's when x's shape is unknown (a last dimension of 1 would make the original
/// broadcast up to γ's size, normalizing single elements: not a real layer norm).
/// Does not fire below opset 17 (counted as <c>skipped-opset</c>): upgrade the opset first.
/// </para>
/// </summary>
public sealed class FuseLayerNormPass : Pass<NoOptions>
{
    /// <summary>LayerNormalization's first version in the default domain.</summary>
    public const long RequiredOpset = 17;

    public override string Name => "fuse-layer-norm";
    public override string Summary => "Fuse decomposed layer normalization (ReduceMean/Sub/Pow/Sqrt/Div) into LayerNormalization (opset >= 17).";

    private sealed record Match(Value X, double Epsilon, Value? Gamma, Tensor Scale, Value? Beta, Tensor? Bias, Node Last, List<Node> Nodes);

    public override PassResult Run(Model model, NoOptions options, PassContext context) =>
        FusionDriver.Run<Match>(this, model, context, ["ReduceMean"], TryMatch, Rewrite, requires: (RequiredOpset, (count, opset) =>
            $"{count} decomposed LayerNorm(s) left as they are: LayerNormalization needs opset >= {RequiredOpset}, the model has {opset}. Upgrade the opset first."));

    /// <summary>Null on success; "" when the node does not start this pattern at all; else why it does not fuse.</summary>
    private static string? TryMatch(Node mean, long opset, out Match? match)
    {
        match = null;
        if (mean.Inputs.Count == 0 || mean.Inputs[0] is not { } x || mean.Outputs.Count != 1 || mean.Outputs[0] is null) return "";
        if (SoleUser(mean.Output, "Sub") is not { } sub || !ReferenceEquals(sub.Inputs[0], x) || !ReferenceEquals(sub.Inputs[1], mean.Output))
            return mean.Output.Uses.Any(u => u.Node.OpType == "Sub") ? $"the mean {mean.Output} has other consumers" : "";
        if (CheckLastAxisReduce(mean, opset, x) is { } axisFailure) return axisFailure;

        var d = sub.Output;
        if (d.IsAnyGraphOutput) return $"the centered value {d} is a graph output";
        var users = Users(d);
        if (users.Count != 2 || users.Any(u => u.Graph != sub.Graph)) return $"the centered value {d} has {users.Count} consumers, not 2";
        int rankLimit = ScalarRankLimit(x, 1);
        bool IsSquare(Node n) =>
            n.IsDefaultDomain && n.Inputs.Count == 2 && ReferenceEquals(n.Inputs[0], d)
            && (n.OpType == "Pow" && IsScalar(n.Inputs[1], rankLimit, 2) || n.OpType == "Mul" && ReferenceEquals(n.Inputs[1], d));
        var square = users.FirstOrDefault(IsSquare);
        if (square is null) return $"the centered value {d} is not squared (Pow 2 or Mul by itself)";
        var norm = users.First(u => u != square);
        if (d.Uses.Count != (square.OpType == "Mul" ? 3 : 2)) return $"the centered value {d} is read more than once by {norm}";

        if (SoleUser(square.Output, "ReduceMean") is not { } variance) return $"the square {square.Output} is not only reduced by a ReduceMean";
        if (CheckLastAxisReduce(variance, opset, d) is { } varianceAxisFailure) return varianceAxisFailure;
        if (SoleUser(variance.Output, "Add") is not { } addEps) return $"the variance {variance.Output} is not only read by an Add of epsilon";
        var epsValue = Other(addEps, variance.Output);
        if (!TryScalar(epsValue, rankLimit, out double eps) || ConstantType(epsValue) != DataType.Float)
            return $"{addEps} does not add a one-element float constant epsilon";
        if (eps < 0) return $"epsilon {eps} is negative";
        if (SoleUser(addEps.Output, "Sqrt") is not { } sqrt) return $"{addEps.Output} is not only read by a Sqrt";

        var nodes = new List<Node> { mean, sub, square, variance, addEps, sqrt };
        if (norm.OpType == "Div" && norm.IsDefaultDomain && ReferenceEquals(norm.Inputs[0], d) && ReferenceEquals(norm.Inputs[1], sqrt.Output))
        {
            if (SoleUser(sqrt.Output) != norm) return $"the standard deviation {sqrt.Output} has other consumers";
        }
        else if (norm.OpType == "Mul" && norm.IsDefaultDomain && Other(norm, d) is { } inv && SoleUser(inv) == norm
                 && inv.Producer is { } invNode && SoleUser(sqrt.Output) == invNode
                 && (invNode.OpType == "Reciprocal" && invNode.IsDefaultDomain
                     || invNode.OpType == "Div" && invNode.IsDefaultDomain && IsScalar(invNode.Inputs[0], rankLimit, 1) && ReferenceEquals(invNode.Inputs[1], sqrt.Output)))
        {
            nodes.Add(invNode);
        }
        else
        {
            return $"{norm} does not divide the centered value by the standard deviation {sqrt.Output}";
        }
        nodes.Add(norm);

        var last = norm;
        Value? gamma = null, beta = null;
        Tensor? scale = null, bias = null;
        if (SoleUser(last.Output, "Mul") is { } mulGamma && Other(mulGamma, last.Output) is { } g
            && TryChannelVector(g, x, out scale) is null)
        {
            gamma = g;
            last = mulGamma;
            nodes.Add(mulGamma);
        }
        if (SoleUser(last.Output, "Add") is { } addBeta && Other(addBeta, last.Output) is { } b
            && TryChannelVector(b, x, out bias) is null)
        {
            beta = b;
            last = addBeta;
            nodes.Add(addBeta);
        }
        if (scale is null)
        {
            long? channels = x.Shape is { Rank: > 0 } s ? s[s.Rank - 1].Value : bias?.ElementCount;
            if (channels is not long c) return $"there is no scale and the last dimension of {x} is unknown";
            scale = Filled(1f, c);
        }
        match = new Match(x, eps, gamma, scale, beta, bias, last, nodes);
        return null;
    }

    private static void Rewrite(Match m, long opset)
    {
        var graph = m.Last.Graph!;
        var inputs = new List<Value?> { m.X, ConstantFor(graph, m.Gamma, m.Scale, "ln_scale") };
        if (m.Bias is not null) inputs.Add(ConstantFor(graph, m.Beta, m.Bias, "ln_bias"));
        var ln = new Node("LayerNormalization", inputs, 1, "",
            [Attribute.Int("axis", -1), Attribute.Float("epsilon", (float)m.Epsilon)], name: m.Last.Name);
        Replace(m.Last, ln, m.Nodes);
    }
}
