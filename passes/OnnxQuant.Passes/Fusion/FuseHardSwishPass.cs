using OnnxQuant.Ir;
using static OnnxQuant.Passes.Fusion.FusionPatterns;

namespace OnnxQuant.Passes.Fusion;

/// <summary>
/// Fuses decomposed hard swish (Howard et al. 2019, MobileNetV3) into one <c>HardSwish</c> (opset ≥ 14), which ONNX
/// defines as <c>x · max(0, min(1, x/6 + 1/2))</c>, equal to each of:
/// <code>
/// Mul(x, Relu6(Add(x, 3))) then Div by 6 (or Mul by 1/6)      (PaddlePaddle, PyTorch exports)
/// Mul(x, Div(Relu6(Add(x, 3)), 6))  (or Mul by 1/6)
/// Mul(x, HardSigmoid(x, alpha=1/6, beta=0.5))
/// </code>
/// where Relu6 is Clip(·, 0, 6) (bounds as attributes before opset 11), Min(Relu(·), 6), Min(Max(·, 0), 6) or
/// Max(Min(·, 6), 0); multiplications in either operand order. Constants must be one-element float constants within
/// 1e-6 relative of their exact values; every intermediate must have one consumer in the same graph and be no graph
/// output. x · HardSigmoid(y) with y ≠ x (a squeeze-excitation gate) is not hard swish and is left alone.
/// Does not fire below opset 14 (counted as <c>skipped-opset</c>).
/// </summary>
public sealed class FuseHardSwishPass : Pass<NoOptions>
{
    /// <summary>HardSwish's first version in the default domain.</summary>
    public const long RequiredOpset = 14;

    public override string Name => "fuse-hard-swish";
    public override string Summary => "Fuse x*relu6(x+3)/6 and x*HardSigmoid(x) into HardSwish (opset >= 14).";

    private sealed record Match(Value X, Node Last, List<Node> Nodes);

    public override PassResult Run(Model model, NoOptions options, PassContext context) =>
        FusionDriver.Run<Match>(this, model, context, ["HardSigmoid", "Clip", "Min", "Max"], TryMatch, Rewrite, requires: (RequiredOpset, (count, opset) =>
            $"{count} decomposed hard swish(es) left as they are: HardSwish needs opset >= {RequiredOpset}, the model has {opset}. Upgrade the opset first."));

    private static string? TryMatch(Node root, long opset, out Match? match) =>
        root.OpType == "HardSigmoid" ? TryMatchHardSigmoid(root, out match) : TryMatchRelu6(root, opset, out match);

    private static void Rewrite(Match m, long opset) =>
        Replace(m.Last, new Node("HardSwish", [m.X], 1, "", name: m.Last.Name), m.Nodes);

    /// <summary>Null on success; "" when the node does not start this pattern at all; else why it does not fuse.</summary>
    private static string? TryMatchHardSigmoid(Node hs, out Match? match)
    {
        match = null;
        if (hs.Inputs.Count != 1 || hs.Inputs[0] is not { } x) return "";
        if (SoleUser(hs.Output, "Mul") is not { } mul || !ReferenceEquals(Other(mul, hs.Output), x)) return "";
        if (!Close(hs.GetFloat("alpha", 0.2f), 1.0 / 6) || !Close(hs.GetFloat("beta", 0.5f), 0.5))
            return $"{hs} has alpha {hs.GetFloat("alpha", 0.2f)} and beta {hs.GetFloat("beta", 0.5f)}, not 1/6 and 0.5";
        if (x.ElementType is { } t && t != DataType.Float) return $"{x} is {t.OnnxName()}, not float";
        match = new Match(x, mul, [hs, mul]);
        return null;
    }

    private static string? TryMatchRelu6(Node node, long opset, out Match? match)
    {
        match = null;
        if (MatchRelu6(node, opset) is not { } relu6) return "";
        var (u, relu6Nodes) = relu6;
        if (Producer(u, "Add") is not { } add) return "";
        Value? x = null;
        foreach (var candidate in add.Inputs)
        {
            var three = candidate is null ? null : Other(add, candidate);
            if (candidate is not null && IsScalar(three, ScalarRankLimit(candidate), 3) && ConstantType(three) == DataType.Float) x = candidate;
        }
        if (x is null) return "";
        int limit = ScalarRankLimit(x);
        if (SoleUser(u) != relu6Nodes[0]) return $"{u} has other consumers";
        bool IsSixth(Node n, Value of) =>
            n.IsDefaultDomain && (n.OpType == "Div" && ReferenceEquals(n.Inputs[0], of) && IsScalar(n.Input(1), limit, 6)
                                  || n.OpType == "Mul" && IsScalar(Other(n, of), limit, 1.0 / 6));

        var r = node.Output;
        if (SoleUser(r) is not { IsDefaultDomain: true } user) return $"{r} has other consumers";
        var nodes = new List<Node> { add };
        nodes.AddRange(relu6Nodes);
        if (user.OpType == "Mul" && ReferenceEquals(Other(user, r), x))
        {
            if (SoleUser(user.Output) is not { } sixth || !IsSixth(sixth, user.Output)) return $"{user.Output} is not only divided by 6";
            nodes.AddRange([user, sixth]);
            match = new Match(x, sixth, nodes);
            return null;
        }
        if (IsSixth(user, r))
        {
            if (SoleUser(user.Output, "Mul") is not { } mul || !ReferenceEquals(Other(mul, user.Output), x))
                return $"{user.Output} is not only multiplied by {x}";
            nodes.AddRange([user, mul]);
            match = new Match(x, mul, nodes);
            return null;
        }
        return $"{r} is not multiplied by {x} and divided by 6";
    }
}
