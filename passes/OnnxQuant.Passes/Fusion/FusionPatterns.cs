using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Fusion;

/// <summary>
/// Small matching helpers shared by the fusion passes (plain code until the pattern-rewrite helper lands; the lead
/// may port the passes onto it). Matchers return a failure reason (null on success) so a pass can say why a
/// candidate did not fuse.
/// </summary>
internal static class FusionPatterns
{
    /// <summary>Relative tolerance for constants written by exporters (0.5, √2, √(2/π), 1/6 as float).</summary>
    public const double ConstantTolerance = 1e-6;

    /// <summary>The producer of <paramref name="value"/> when it is a default-domain node of type <paramref name="opType"/>.</summary>
    public static Node? Producer(Value? value, string opType) =>
        value?.Producer is { } p && p.OpType == opType && p.IsDefaultDomain ? p : null;

    /// <summary>
    /// The only node that reads <paramref name="value"/>, when exactly one input slot of one node in the same graph
    /// reads it and it is no graph output: only then may the value disappear into a fused op.
    /// </summary>
    public static Node? SoleUser(Value value)
    {
        if (value.Uses.Count != 1 || value.IsAnyGraphOutput) return null;
        var user = value.Uses[0].Node;
        return value.Producer is { } p && user.Graph != p.Graph ? null : user;
    }

    /// <summary>The sole user of <paramref name="value"/> when it is a default-domain node of type <paramref name="opType"/>.</summary>
    public static Node? SoleUser(Value value, string opType) =>
        SoleUser(value) is { } u && u.OpType == opType && u.IsDefaultDomain ? u : null;

    /// <summary>The distinct nodes reading <paramref name="value"/> (a node reading it twice counts once).</summary>
    public static List<Node> Users(Value value) =>
        value.Uses.Select(u => u.Node).Distinct(ReferenceEqualityComparer.Instance).Cast<Node>().ToList();

    /// <summary>For a two-input node reading <paramref name="known"/>, the other input (null when it reads it in neither slot).</summary>
    public static Value? Other(Node binary, Value known)
    {
        if (binary.Inputs.Count != 2) return null;
        if (ReferenceEquals(binary.Inputs[0], known)) return binary.Inputs[1];
        if (ReferenceEquals(binary.Inputs[1], known)) return binary.Inputs[0];
        return null;
    }

    /// <summary>
    /// The value of a one-element numeric constant of rank at most <paramref name="maxRank"/>. The rank limit keeps
    /// a rewrite exact: a <c>[1,1]</c> constant added to a rank-1 tensor would broadcast it up to rank 2.
    /// </summary>
    public static bool TryScalar(Value? value, int maxRank, out double scalar)
    {
        scalar = 0;
        if (value is null || ConstantNode.ConstantOf(value) is not { } t || t.ElementCount != 1 || t.Rank > maxRank)
            return false;
        switch (t.ElementType)
        {
            case DataType.Float: scalar = t.AsSpan<float>()[0]; return true;
            case DataType.Double: scalar = t.AsSpan<double>()[0]; return true;
            case DataType.Float16: scalar = (double)t.AsSpan<Half>()[0]; return true;
            case DataType.Int64: scalar = t.AsSpan<long>()[0]; return true;
            case DataType.Int32: scalar = t.AsSpan<int>()[0]; return true;
            default: return false;
        }
    }

    /// <summary>True for a one-element constant (see <see cref="TryScalar"/>) within <see cref="ConstantTolerance"/> of <paramref name="expected"/>.</summary>
    public static bool IsScalar(Value? value, int maxRank, double expected) =>
        TryScalar(value, maxRank, out double v) && Close(v, expected);

    /// <summary>Relative closeness; an expected 0 must be exactly 0.</summary>
    public static bool Close(double actual, double expected) =>
        Math.Abs(actual - expected) <= ConstantTolerance * Math.Max(Math.Abs(actual), Math.Abs(expected));

    /// <summary>
    /// The highest rank a one-element constant combined with <paramref name="x"/> may have without changing the
    /// result's rank: x's rank when known, else <paramref name="atLeast"/> (what the pattern itself guarantees).
    /// </summary>
    public static int ScalarRankLimit(Value x, int atLeast = 0) => Math.Max(x.Shape?.Rank ?? 0, atLeast);

    /// <summary>
    /// Null when <paramref name="node"/> reduces over exactly the last axis and keeps it (keepdims=1): axes from the
    /// attribute before opset 18, from the second input from 18 on. Otherwise the reason it does not.
    /// </summary>
    public static string? CheckLastAxisReduce(Node node, long opset, Value input)
    {
        if (node.GetInt("keepdims", 1) != 1) return $"{node} has keepdims=0";
        IReadOnlyList<long>? axes;
        if (opset < 18)
        {
            axes = node.GetInts("axes");
        }
        else
        {
            if (node.Inputs.Count < 2 || node.Inputs[1] is null) axes = null;
            else if (ConstantNode.ConstantOf(node.Inputs[1]!) is { ElementType: DataType.Int64 } t) axes = t.AsSpan<long>().ToArray();
            else return $"{node} has non-constant axes";
        }
        int? rank = input.Shape?.Rank;
        if (axes is null || axes.Count == 0)
            return rank == 1 && node.GetInt("noop_with_empty_axes", 0) == 0 ? null : $"{node} reduces over all axes, not the last one";
        if (axes.Count != 1) return $"{node} reduces over {axes.Count} axes, not just the last one";
        long axis = axes[0];
        if (axis == -1 || (rank is int r && axis == r - 1)) return null;
        return $"{node} reduces over axis {axis}, not the last one" + (rank is null && axis >= 0 ? " (rank unknown)" : "");
    }

    /// <summary>
    /// Recognizes <paramref name="node"/> as the last node of a ReLU6 (clip to [0, 6]): Clip (bounds as attributes
    /// before opset 11, as inputs from 11 on), Min(Relu(u), 6), Min(Max(u, 0), 6) or Max(Min(u, 6), 0). Returns the
    /// clipped input and the nodes involved, or null.
    /// </summary>
    public static (Value Input, List<Node> Nodes)? MatchRelu6(Node node, long opset)
    {
        if (!node.IsDefaultDomain || node.Outputs.Count != 1 || node.Outputs[0] is null) return null;
        switch (node.OpType)
        {
            case "Clip":
            {
                if (node.Inputs.Count == 0 || node.Inputs[0] is not { } u) return null;
                double? lo, hi;
                if (opset < 11)
                {
                    lo = node.GetAttribute("min")?.AsFloat();
                    hi = node.GetAttribute("max")?.AsFloat();
                }
                else
                {
                    lo = TryScalar(node.Input(1), 0, out double l) ? l : null;
                    hi = TryScalar(node.Input(2), 0, out double h) ? h : null;
                }
                return lo == 0 && hi is double hv && Close(hv, 6) ? (u, [node]) : null;
            }
            case "Min":
            case "Max":
            {
                if (node.Inputs.Count != 2) return null;
                string inner = node.OpType == "Min" ? "Max" : "Min";
                double outerBound = node.OpType == "Min" ? 6 : 0, innerBound = node.OpType == "Min" ? 0 : 6;
                for (int i = 0; i < 2; i++)
                {
                    if (node.Inputs[i] is not { } a || !IsScalar(node.Inputs[1 - i], 0, outerBound))
                        continue;
                    if (SoleUser(a) != node || a.Producer is not { } p || !p.IsDefaultDomain) continue;
                    if (node.OpType == "Min" && p.OpType == "Relu" && p.Inputs.Count == 1 && p.Inputs[0] is { } r)
                        return (r, [p, node]);
                    if (p.OpType != inner || p.Inputs.Count != 2) continue;
                    for (int j = 0; j < 2; j++)
                    {
                        if (p.Inputs[j] is { } u && IsScalar(p.Inputs[1 - j], 0, innerBound))
                            return (u, [p, node]);
                    }
                }
                return null;
            }
            default:
                return null;
        }
    }

    /// <summary>The element type of <paramref name="value"/>'s constant, or null.</summary>
    public static DataType? ConstantType(Value? value) => value is null ? null : ConstantNode.ConstantOf(value)?.ElementType;

    /// <summary>
    /// Removes the matched nodes (consumers first, so each removal sees its outputs unused) and then the constants
    /// they read that nothing else reads any more: a fused graph should not carry the pattern's scalars.
    /// </summary>
    public static void RemoveMatched(IEnumerable<Node> nodes)
    {
        var list = nodes.Distinct(ReferenceEqualityComparer.Instance).Cast<Node>().ToList();
        var inputs = list.SelectMany(n => n.Inputs).Where(v => v is not null).Cast<Value>().ToList();
        var pending = new List<Node>(list);
        while (pending.Count > 0)
        {
            int before = pending.Count;
            for (int i = pending.Count - 1; i >= 0; i--)
            {
                var n = pending[i];
                if (n.Outputs.Any(o => o is not null && (o.Uses.Count > 0 || o.IsAnyGraphOutput))) continue;
                n.Graph!.Remove(n);
                pending.RemoveAt(i);
            }
            if (pending.Count == before)
                throw new InvalidOperationException($"Internal error: matched nodes still in use: {string.Join(", ", pending)}.");
        }
        foreach (var v in inputs.Distinct(ReferenceEqualityComparer.Instance).Cast<Value>()) RemoveConstantIfDead(v);
    }

    /// <summary>Removes a constant that no node reads and that is neither a graph input nor a graph output.</summary>
    public static void RemoveConstantIfDead(Value value)
    {
        if (!value.IsConstant || value.Uses.Count > 0 || value.IsAnyGraphOutput || value.IsGraphInput) return;
        if (value.Graph is { } g && g.Constants.Contains(value)) g.RemoveConstant(value);
    }

    /// <summary>
    /// Replaces <paramref name="last"/>'s output by <paramref name="fused"/>'s (inserted just before it, where every
    /// input of the pattern is already defined), keeping the old output's type, then removes the matched nodes.
    /// </summary>
    public static void Replace(Node last, Node fused, IEnumerable<Node> matched)
    {
        var graph = last.Graph!;
        graph.InsertBefore(last, fused);
        fused.Output.Type = last.Output.Type;
        last.Output.ReplaceAllUsesWith(fused.Output);
        RemoveMatched(matched);
    }

    /// <summary>The main graph and every subgraph inside it (function bodies excluded: they have their own opsets).</summary>
    public static List<Graph> GraphsOf(Model model)
    {
        var result = new List<Graph>();
        void Walk(Graph g)
        {
            result.Add(g);
            foreach (var n in g.Nodes)
                foreach (var sub in n.Subgraphs) Walk(sub);
        }
        Walk(model.Graph);
        return result;
    }

    /// <summary>
    /// A per-channel constant (γ or β of a normalization over the last axis) as a 1-D tensor of the channel count:
    /// float, every dimension but the last 1, rank no higher than x's (or 1 when x's rank is unknown). A one-element
    /// constant is expanded when x's last dimension is known. Returns the reason when it is not one.
    /// </summary>
    public static string? TryChannelVector(Value value, Value x, out Tensor? vector)
    {
        vector = null;
        if (ConstantNode.ConstantOf(value) is not { } t) return $"{value} is not a constant";
        if (t.ElementType != DataType.Float) return $"{value} is {t.ElementType.OnnxName()}, not float";
        if (t.Rank > ScalarRankLimit(x, 1)) return $"{value} has rank {t.Rank}, above the input's";
        if (t.Rank > 0 && t.Dims.Take(t.Rank - 1).Any(d => d != 1)) return $"{value} has shape {t}, not per channel of the last axis";
        long? lastDim = x.Shape is { Rank: > 0 } s ? s[s.Rank - 1].Value : null;
        if (t.ElementCount == 1)
        {
            if (lastDim is not long n) return $"{value} is one element and the last dimension of {x} is unknown";
            vector = Filled(t.AsSpan<float>()[0], n);
            return null;
        }
        if (lastDim is long d && d != t.ElementCount) return $"{value} has {t.ElementCount} channels but {x} has {d}";
        vector = t.Rank == 1 ? t : t.Reshape([t.ElementCount]);
        return null;
    }

    /// <summary>The original constant when <paramref name="tensor"/> is its own tensor, else a new constant holding it.</summary>
    public static Value ConstantFor(Graph graph, Value? original, Tensor tensor, string hint) =>
        original is { Const: { } c } && ReferenceEquals(c, tensor) ? original : graph.AddConstant(tensor, hint);

    /// <summary>A float32 tensor of <paramref name="length"/> copies of <paramref name="value"/>.</summary>
    public static Tensor Filled(float value, long length)
    {
        var data = new float[length];
        Array.Fill(data, value);
        return Tensor.FromFloats(data, length);
    }
}
