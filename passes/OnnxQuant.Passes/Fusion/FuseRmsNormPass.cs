using OnnxQuant.Ir;
using static OnnxQuant.Passes.Fusion.FusionPatterns;

namespace OnnxQuant.Passes.Fusion;

/// <summary>
/// Fuses a decomposed RMS normalization over the last axis (Zhang and Sennrich 2019, as in Llama):
/// <code>
/// s = Sqrt(Add(ReduceMean(Pow(x, 2) | Mul(x, x)), ε))
/// n = Div(x, s) | Mul(x, Reciprocal(s)) | Mul(x, Div(1, s));  y = Mul(n, γ)
/// </code>
/// which is <c>x / √(mean(x²) + ε) · γ</c>: <c>RMSNormalization(x, γ, axis=-1, epsilon=ε)</c> from opset 23, else
/// ONNX Runtime's <c>SimplifiedLayerNormalization</c> (same attributes and formula). ORT registers that contrib op in
/// the default ONNX domain, version 1 (like its old LayerNormalization), not in com.microsoft, so it is available at
/// every ai.onnx opset: emitting it under com.microsoft makes ORT reject the model.
/// <para>
/// Fires when the reduction is over the last axis with keepdims, ε is a one-element float constant, every
/// intermediate has one consumer in the same graph and is no graph output, and γ (optional; ones when absent, which
/// needs x's last dimension known) is a float constant per channel of the last axis. Does not fire when x is
/// itself centered (x = Sub(a, ReduceMean(a))): that is the tail of a LayerNorm, for fuse-layer-norm.
/// </para>
/// </summary>
public sealed class FuseRmsNormPass : Pass<NoOptions>
{
    /// <summary>RMSNormalization's first version in the default domain.</summary>
    public const long StandardOpset = 23;

    public override string Name => "fuse-rms-norm";
    public override string Summary => "Fuse decomposed RMS normalization into RMSNormalization (opset >= 23) or ORT's SimplifiedLayerNormalization.";

    private sealed record Match(Value X, double Epsilon, Value? Gamma, Tensor Scale, Node Last, List<Node> Nodes);

    public override PassResult Run(Model model, NoOptions options, PassContext context) =>
        FusionDriver.Run<Match>(this, model, context, ["ReduceMean"], TryMatch, Rewrite);

    /// <summary>Null on success; "" when the node does not start this pattern at all; else why it does not fuse.</summary>
    private static string? TryMatch(Node mean, long opset, out Match? match)
    {
        match = null;
        if (mean.Inputs.Count == 0 || mean.Inputs[0] is not { } squared || mean.Outputs.Count != 1 || mean.Outputs[0] is null) return "";
        if (squared.Producer is not { IsDefaultDomain: true, Inputs.Count: 2 } square || square.Inputs[0] is not { } x) return "";
        int rankLimit = ScalarRankLimit(x, 1);
        bool isSquare = square.OpType == "Pow" && IsScalar(square.Inputs[1], rankLimit, 2)
                        || square.OpType == "Mul" && ReferenceEquals(square.Inputs[1], x);
        if (!isSquare) return "";
        if (Producer(x, "Sub") is { } sub && Producer(sub.Inputs[1], "ReduceMean") is { } m && ReferenceEquals(m.Inputs[0], sub.Inputs[0]))
            return "";  // a LayerNorm's variance: fuse-layer-norm's business, not a candidate here
        if (SoleUser(squared) != mean) return $"the square {squared} has other consumers";
        if (CheckLastAxisReduce(mean, opset, x) is { } axisFailure) return axisFailure;
        if (SoleUser(mean.Output, "Add") is not { } addEps) return $"the mean square {mean.Output} is not only read by an Add of epsilon";
        var epsValue = Other(addEps, mean.Output);
        if (!TryScalar(epsValue, rankLimit, out double eps) || ConstantType(epsValue) != DataType.Float)
            return $"{addEps} does not add a one-element float constant epsilon";
        if (eps < 0) return $"epsilon {eps} is negative";
        if (SoleUser(addEps.Output, "Sqrt") is not { } sqrt) return $"{addEps.Output} is not only read by a Sqrt";
        if (SoleUser(sqrt.Output) is not { IsDefaultDomain: true } afterSqrt) return $"the root mean square {sqrt.Output} has other consumers";

        var nodes = new List<Node> { square, mean, addEps, sqrt };
        Node norm;
        if (afterSqrt.OpType == "Div" && ReferenceEquals(afterSqrt.Inputs[0], x) && ReferenceEquals(afterSqrt.Inputs[1], sqrt.Output))
        {
            norm = afterSqrt;
        }
        else if (afterSqrt.OpType == "Reciprocal"
                 || afterSqrt.OpType == "Div" && IsScalar(afterSqrt.Inputs[0], rankLimit, 1) && ReferenceEquals(afterSqrt.Inputs[1], sqrt.Output))
        {
            var inv = afterSqrt.Output;
            if (SoleUser(inv, "Mul") is not { } mul || !ReferenceEquals(Other(mul, inv), x))
                return $"the inverse root mean square {inv} is not only multiplied by {x}";
            nodes.Add(afterSqrt);
            norm = mul;
        }
        else
        {
            return $"{afterSqrt} does not divide {x} by the root mean square";
        }
        nodes.Add(norm);

        var last = norm;
        Value? gamma = null;
        Tensor? scale = null;
        if (SoleUser(last.Output, "Mul") is { } mulGamma && Other(mulGamma, last.Output) is { } g
            && TryChannelVector(g, x, out scale) is null)
        {
            gamma = g;
            last = mulGamma;
            nodes.Add(mulGamma);
        }
        if (scale is null)
        {
            if (x.Shape is not { Rank: > 0 } s || s[s.Rank - 1].Value is not long c)
                return $"there is no scale and the last dimension of {x} is unknown";
            scale = Filled(1f, c);
        }
        match = new Match(x, eps, gamma, scale, last, nodes);
        return null;
    }

    private static void Rewrite(Match m, long opset)
    {
        var graph = m.Last.Graph!;
        var scale = ConstantFor(graph, m.Gamma, m.Scale, "rms_scale");
        string op = opset >= StandardOpset ? "RMSNormalization" : "SimplifiedLayerNormalization";
        var fused = new Node(op, [m.X, scale], 1, "",
            [Attribute.Int("axis", -1), Attribute.Float("epsilon", (float)m.Epsilon)], name: m.Last.Name);
        Replace(m.Last, fused, m.Nodes);
    }
}
