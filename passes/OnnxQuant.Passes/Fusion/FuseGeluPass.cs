using OnnxQuant.Ir;
using static OnnxQuant.Passes.Fusion.FusionPatterns;

namespace OnnxQuant.Passes.Fusion;

/// <summary>
/// Fuses the two decomposed GELU forms into one <c>Gelu</c> (opset ≥ 20; Hendrycks and Gimpel 2016):
/// <code>
/// erf:  y = x · 0.5 · (1 + Erf(x / √2))                         → Gelu(x)
/// tanh: y = x · 0.5 · (1 + Tanh(√(2/π) · (x + 0.044715 · x³)))  → Gelu(x, approximate="tanh")
/// </code>
/// x/√2 may be Div(x, √2) or Mul(x, 1/√2); x³ may be Pow(x, 3), Mul(x, Mul(x, x)) or Mul(Mul(x, x), x); the
/// outer product of x, 0.5 (or a division by 2) and the (1 + …) term may be associated in any order. Constants must
/// be one-element float constants within 1e-6 relative of their exact values, and every intermediate must have one
/// consumer in the same graph and be no graph output. Does not fire below opset 20 (counted as
/// <c>skipped-opset</c>).
/// </summary>
public sealed class FuseGeluPass : Pass<NoOptions>
{
    /// <summary>Gelu's first version in the default domain.</summary>
    public const long RequiredOpset = 20;

    public override string Name => "fuse-gelu";
    public override string Summary => "Fuse decomposed GELU (erf and tanh forms) into Gelu (opset >= 20).";

    private sealed record Match(Value X, bool Tanh, Node Last, List<Node> Nodes);

    public override PassResult Run(Model model, NoOptions options, PassContext context) =>
        FusionDriver.Run<Match>(this, model, context, ["Erf", "Tanh"], TryMatch, Rewrite, requires: (RequiredOpset, (count, opset) =>
            $"{count} decomposed GELU(s) left as they are: Gelu needs opset >= {RequiredOpset}, the model has {opset}. Upgrade the opset first."));

    private static string? TryMatch(Node root, long opset, out Match? match) =>
        root.OpType == "Erf" ? TryMatchErf(root, out match) : TryMatchTanh(root, out match);

    private static void Rewrite(Match m, long opset)
    {
        var gelu = new Node("Gelu", [m.X], 1, "", m.Tanh ? [Attribute.String("approximate", "tanh")] : null, name: m.Last.Name);
        Replace(m.Last, gelu, m.Nodes);
    }

    /// <summary>Null on success; "" when the node does not start this pattern at all; else why it does not fuse.</summary>
    private static string? TryMatchErf(Node erf, out Match? match)
    {
        match = null;
        if (erf.Inputs.Count != 1 || erf.Inputs[0] is not { Producer: { IsDefaultDomain: true, Inputs.Count: 2 } scaling } u) return "";
        Value? x = null;
        foreach (var candidate in scaling.Inputs)
        {
            if (candidate is null) continue;
            int limit = ScalarRankLimit(candidate);
            var other = Other(scaling, candidate);
            bool divides = scaling.OpType == "Div" && ReferenceEquals(scaling.Inputs[0], candidate) && IsScalar(other, limit, Math.Sqrt(2));
            bool multiplies = scaling.OpType == "Mul" && IsScalar(other, limit, Math.Sqrt(0.5));
            if ((divides || multiplies) && ConstantType(other) == DataType.Float) { x = candidate; break; }
        }
        if (x is null) return "";
        if (SoleUser(u) != erf) return $"the scaled input {u} has other consumers";
        if (SoleUser(erf.Output, "Add") is not { } addOne || !IsScalar(Other(addOne, erf.Output), ScalarRankLimit(x), 1))
            return $"{erf.Output} is not only read by an Add of 1";
        var nodes = new List<Node> { scaling, erf, addOne };
        if (MatchHalfXTimes(addOne.Output, x, nodes) is { } failure) return failure;
        match = new Match(x, false, nodes[^1], nodes);
        return null;
    }

    private static string? TryMatchTanh(Node tanh, out Match? match)
    {
        match = null;
        if (tanh.Inputs.Count != 1 || tanh.Inputs[0] is not { } v || Producer(v, "Mul") is not { } scaleMul) return "";
        Value? sum = null;
        foreach (var candidate in scaleMul.Inputs)
            if (candidate is not null && IsScalar(Other(scaleMul, candidate), ScalarRankLimit(candidate), Math.Sqrt(2 / Math.PI))
                && ConstantType(Other(scaleMul, candidate)) == DataType.Float)
                sum = candidate;
        if (sum is null || Producer(sum, "Add") is not { Inputs.Count: 2 } add) return "";

        // add = x + 0.044715·x³, in either order.
        for (int i = 0; i < 2; i++)
        {
            if (add.Inputs[1 - i] is not { } x || add.Inputs[i] is not { } p || Producer(p, "Mul") is not { } cubeMul) continue;
            int limit = ScalarRankLimit(x);
            Value? cube = null;
            foreach (var c in cubeMul.Inputs)
                if (c is not null && IsScalar(Other(cubeMul, c), limit, 0.044715)) cube = c;
            if (cube is null || MatchCube(cube, x) is not { } cubeNodes) continue;

            if (SoleUser(v) != tanh) return $"{v} has other consumers";
            if (SoleUser(sum) != scaleMul) return $"{sum} has other consumers";
            if (SoleUser(p) != add) return $"{p} has other consumers";
            if (SoleUser(cube) != cubeMul) return $"the cube {cube} has other consumers";
            if (SoleUser(tanh.Output, "Add") is not { } addOne || !IsScalar(Other(addOne, tanh.Output), limit, 1))
                return $"{tanh.Output} is not only read by an Add of 1";
            var nodes = new List<Node>(cubeNodes) { cubeMul, add, scaleMul, tanh, addOne };
            if (MatchHalfXTimes(addOne.Output, x, nodes) is { } failure) return failure;
            match = new Match(x, true, nodes[^1], nodes);
            return null;
        }
        return "";
    }

    /// <summary>The nodes computing <paramref name="cube"/> = x³ (Pow(x, 3) or two Muls), or null.</summary>
    private static List<Node>? MatchCube(Value cube, Value x)
    {
        if (Producer(cube, "Pow") is { } pow && ReferenceEquals(pow.Inputs[0], x) && IsScalar(pow.Input(1), ScalarRankLimit(x), 3))
            return [pow];
        if (Producer(cube, "Mul") is not { } outer || Other(outer, x) is not { } sq || Producer(sq, "Mul") is not { } inner) return null;
        return ReferenceEquals(inner.Inputs[0], x) && ReferenceEquals(inner.Inputs[1], x) && SoleUser(sq) == outer ? [inner, outer] : null;
    }

    /// <summary>
    /// Matches the product of x, 0.5 and <paramref name="term"/> in any association: Mul(Mul(x, t), 0.5),
    /// Mul(Mul(t, 0.5), x), Mul(Mul(x, 0.5), t), with Div by 2 for the halving. Appends the nodes, the result's
    /// producer last.
    /// </summary>
    private static string? MatchHalfXTimes(Value term, Value x, List<Node> nodes)
    {
        int limit = ScalarRankLimit(x);
        bool IsHalving(Node n, Value of) =>
            n.IsDefaultDomain && (n.OpType == "Mul" && IsScalar(Other(n, of), limit, 0.5)
                                  || n.OpType == "Div" && ReferenceEquals(n.Inputs[0], of) && IsScalar(n.Input(1), limit, 2));
        if (SoleUser(term, "Mul") is not { } first) return $"{term} is not only read by a Mul";
        var other = Other(first, term);
        if (ReferenceEquals(other, x))
        {
            if (SoleUser(first.Output) is not { } half || !IsHalving(half, first.Output)) return $"{first.Output} is not halved";
            nodes.AddRange([first, half]);
            return null;
        }
        if (IsScalar(other, limit, 0.5))
        {
            if (SoleUser(first.Output, "Mul") is not { } byX || !ReferenceEquals(Other(byX, first.Output), x))
                return $"{first.Output} is not multiplied by {x}";
            nodes.AddRange([first, byX]);
            return null;
        }
        if (other?.Producer is { } h && IsHalving(h, x))
        {
            if (SoleUser(other) != first) return $"the half input {other} has other consumers";
            nodes.AddRange([h, first]);
            return null;
        }
        return $"{first} does not multiply by x and 0.5";
    }
}
