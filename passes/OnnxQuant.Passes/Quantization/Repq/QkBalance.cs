using OnnxQuant.Ir;
using OnnxQuant.Passes.LinearLayers;
using OnnxQuant.Passes.Rewriting;

namespace OnnxQuant.Passes.Quantization.Repq;

/// <summary>
/// Balances the per-channel ranges of attention's q and k before their per-tensor quantizers (repq-vit's
/// <c>qk-balance</c>; the scale migration of SmoothQuant, ALGORITHMS.md §2, applied between q and k, and RepQ-ViT's
/// idea of folding channel-wise scales into the layers before). Identity: q·kᵀ = (q·diag(β))·(k·diag(1/β))ᵀ for any
/// β_c > 0, so with β_c = √(max|k_c| / max|q_c|) both q′ and k′ have channel c's range √(max|q_c|·max|k_c|) and the
/// scores are unchanged. β is folded into the projections that produce q and k: the weight columns (rows of the
/// linear-layer view) and bias entries of q's channels times β, of k's divided by β. Exact up to float rounding of the
/// new weights. Per-tensor 4-bit q and k lose the small channels to the large ones; balanced, their ranges are closer.
/// <para>
/// Recognized form (fused qkv or separate q/k projections, as ViTs export them): scores = MatMul(A, B) where A is
/// Transpose(Reshape(X_q)) with the head split [b, T, H·D] → [b, T, H, D] and A laid out [b, H, T, D], B likewise laid
/// out [b, H, D, T]; X is a Slice of the last axis (constant start/end, step 1) of a projection output, or the
/// projection output itself; the projection is MatMul(x, W) with a constant 2-D W, optionally followed by an Add of a
/// constant bias vector. Does not fire when a value on the way has a reader other than the next step (Shape readers
/// allowed), when another Slice of the projection output overlaps q's or k's columns, when shapes are not known, or
/// on timm's 5-D split (Reshape to [b, T, 3, H, D], Gather of q, k, v), each counted with its reason.
/// </para>
/// </summary>
internal static class QkBalance
{
    /// <summary>One side of the scores: <see cref="Channels"/> (the Slice output or the projection output, channels on
    /// its last axis, as calibrated), the head-split <see cref="Reshape"/> reading it, and the projection output it is
    /// cut from at column <see cref="Offset"/> (found again from the Reshape when applied: an earlier edit, such as the
    /// post-LayerNorm bias correction, may have put an Add after the projection).</summary>
    internal sealed record Side(Value Channels, Node Reshape, Value Projection, int Offset, int Width)
    {
        public Value CurrentProjection()
        {
            var x = Reshape.Inputs[0]!;
            return x.Producer is { OpType: "Slice", IsDefaultDomain: true } slice ? slice.Inputs[0]! : x;
        }
    }

    internal sealed record Pair(Node Scores, Side Q, Side K);

    /// <summary>The attention-score MatMuls of <paramref name="graph"/> in the recognized form, with why the others are not.</summary>
    public static List<Pair> Find(Graph graph, Action<string> miss)
    {
        var pairs = new List<Pair>();
        foreach (var node in graph.Nodes)
        {
            if (node.OpType != "MatMul" || !node.IsDefaultDomain || node.Inputs.Count != 2) continue;
            if (node.Inputs[0] is not { IsConstant: false } a || node.Inputs[1] is not { IsConstant: false } b) continue;
            if (a.Producer?.OpType == "Softmax") continue;   // attention times V
            if (a.Producer?.OpType != "Transpose" || b.Producer?.OpType != "Transpose")
            {
                miss("qk-balance: q or k is not a Transpose of a head split (e.g. a Gather from a 5-D qkv split)");
                continue;
            }
            if (!ReadOnlyBy(a, node) || !ReadOnlyBy(b, node)) { miss("qk-balance: q or k has readers other than the scores MatMul"); continue; }
            var q = Trace(a, [0, 2, 1, 3], out string? whyQ);
            var k = Trace(b, [0, 2, 3, 1], out string? whyK);
            if (q is null || k is null)
            {
                miss($"qk-balance: {whyQ ?? whyK}");
                continue;
            }
            if (q.Width != k.Width) miss("qk-balance: q and k have different widths");
            else if (q.Projection == k.Projection && q.Offset < k.Offset + k.Width && k.Offset < q.Offset + q.Width) miss("qk-balance: q and k share columns");
            else if ((OtherSliceOverlaps(q, k) ?? OtherSliceOverlaps(k, q)) is { } why) miss($"qk-balance: {why}");
            else pairs.Add(new Pair(node, q, k));
        }
        return pairs;
    }

    /// <summary>
    /// The side whose final layout, as positions of the head-split axes (0 b, 1 T, 2 H, 3 D), is <paramref name="layout"/>:
    /// walks back through Transposes to the Reshape that splits the last axis, then to a Slice or the projection.
    /// </summary>
    private static Side? Trace(Value input, int[] layout, out string? why)
    {
        why = null;
        int[] map = [0, 1, 2, 3];   // final position → axis of the current value
        var v = input;
        while (v.Producer is { OpType: "Transpose", IsDefaultDomain: true } t && t.Inputs[0] is { } source)
        {
            var perm = t.GetInts("perm");
            if (perm is null || perm.Count != 4) { why = "a Transpose without a 4-D perm"; return null; }
            map = map.Select(axis => (int)perm[axis]).ToArray();
            if (!ReadOnlyBy(source, t)) { why = $"{source} has other readers"; return null; }
            v = source;
        }
        if (!map.SequenceEqual(layout)) { why = "q or k is not laid out as [b, H, T, D] / [b, H, D, T]"; return null; }
        if (v.Producer is not { OpType: "Reshape", IsDefaultDomain: true } reshape || reshape.Inputs[0] is not { } x) { why = "no head-split Reshape before the Transposes"; return null; }
        if (v.Shape is not { Rank: 4 } split || x.Shape is not { Rank: 3 } flat || !split[2].IsKnown || !split[3].IsKnown || !flat[2].IsKnown
            || split[2].Value!.Value * split[3].Value!.Value != flat[2].Value!.Value || !split[0].Equals(flat[0]) || !split[1].Equals(flat[1]))
        {
            why = "the Reshape is not a known split of the last axis into heads";
            return null;
        }
        if (!ReadOnlyBy(x, reshape)) { why = $"{x} has other readers"; return null; }
        int width = (int)flat[2].Value!.Value;
        if (x.Producer is { OpType: "Slice", IsDefaultDomain: true } slice)
        {
            if (SliceColumns(slice) is not { } range || range.End - range.Start != width) { why = "a Slice other than a constant step-1 cut of the last axis"; return null; }
            return Projection(slice.Inputs[0]!, x, reshape, range.Start, width, out why);
        }
        return Projection(x, x, reshape, 0, width, out why);
    }

    private static Side? Projection(Value p, Value channels, Node reshape, int offset, int width, out string? why)
    {
        why = null;
        if (p.Uses.Any(u => u.Node.OpType is not ("Slice" or "Shape" or "Reshape")) || p.IsAnyGraphOutput) { why = $"the projection output {p} has readers other than Slice/Reshape/Shape"; return null; }
        if (Layer(p) is null) { why = $"{p} is not a MatMul with a constant 2-D weight (and a constant bias Add)"; return null; }
        return new Side(channels, reshape, p, offset, width);
    }

    /// <summary>The MatMul producing <paramref name="p"/> (directly, or through an Add of a constant bias vector) and the Add.</summary>
    internal static (LinearLayer Layer, Node? Add, int BiasInput)? Layer(Value p)
    {
        Node? add = null;
        int biasInput = -1;
        var m = p;
        if (p.Producer is { OpType: "Add", IsDefaultDomain: true } a)
        {
            for (int i = 0; i < 2; i++)
                if (a.Inputs[i] is { Const: { ElementType: DataType.Float } t } && t.Dims.Take(t.Rank - 1).All(d => d == 1) && a.Inputs[1 - i] is { IsConstant: false } other)
                {
                    add = a;
                    biasInput = i;
                    m = other;
                }
            if (add is null) return null;
            if (m.Uses.Count != 1 || m.IsAnyGraphOutput) return null;
        }
        if (m.Producer is not { OpType: "MatMul", IsDefaultDomain: true } matmul || LinearLayer.TryRead(matmul, out var layer) is not null) return null;
        if (add is not null && add.Inputs[biasInput]!.Const!.ElementCount != layer!.OutputChannels) return null;
        return (layer!, add, biasInput);
    }

    private static bool ReadOnlyBy(Value v, Node reader) =>
        !v.IsAnyGraphOutput && v.Uses.All(u => u.Node == reader || u.Node.OpType == "Shape");

    /// <summary>The columns [start, end) a Slice cuts from the last axis (step 1), its operands constant or computed
    /// from known dimensions (<see cref="KnownInts"/>: exporters compute a chunk's bounds from Shape), else null.</summary>
    private static (int Start, int End)? SliceColumns(Node slice)
    {
        if (slice.Inputs.Count < 4 || slice.Inputs[0]?.Shape is not { } shape) return null;
        if (KnownInts.Of(slice.Inputs[1]) is not [long start] || KnownInts.Of(slice.Inputs[2]) is not [long end] || KnownInts.Of(slice.Inputs[3]) is not [long axis]) return null;
        if (slice.Input(4) is { } steps && KnownInts.Of(steps) is not [1]) return null;
        if (axis != -1 && axis != shape.Rank - 1) return null;
        if (!shape[shape.Rank - 1].IsKnown) return null;
        long n = shape[shape.Rank - 1].Value!.Value;
        long Clamp(long i) => Math.Clamp(i < 0 ? i + n : i, 0, n);
        return ((int)Clamp(start), (int)Clamp(end));
    }

    /// <summary>Why a Slice of <paramref name="side"/>'s projection other than q's and k's would see scaled columns, or null.</summary>
    private static string? OtherSliceOverlaps(Side side, Side other)
    {
        foreach (var use in side.Projection.Uses)
        {
            var reader = use.Node;
            if (reader.OpType != "Slice" || reader.Outputs[0] == side.Channels || reader.Outputs[0] == other.Channels) continue;
            if (SliceColumns(reader) is not { } r) return $"{reader} cuts the projection output in an unknown way";
            if (r.Start < side.Offset + side.Width && side.Offset < r.End) return $"{reader} reads q's or k's columns";
        }
        return null;
    }

    /// <summary>β_c = √(max|k_c| / max|q_c|) (1 where either is 0), from the calibrated per-channel abs-max.</summary>
    public static double[] Factors(double[] qAbsMax, double[] kAbsMax)
    {
        var beta = new double[qAbsMax.Length];
        for (int c = 0; c < beta.Length; c++)
            beta[c] = qAbsMax[c] > 0 && kAbsMax[c] > 0 && double.IsFinite(qAbsMax[c]) && double.IsFinite(kAbsMax[c]) ? Math.Sqrt(kAbsMax[c] / qAbsMax[c]) : 1;
        return beta;
    }

    /// <summary>q's projection channels times β, k's divided by β (weights and bias). False when the projections no
    /// longer have the recognized form (an earlier edit changed them).</summary>
    public static bool Apply(Rewriter rewriter, Pair pair, double[] beta)
    {
        if (Layer(pair.Q.CurrentProjection()) is null || Layer(pair.K.CurrentProjection()) is null) return false;
        ScaleChannels(rewriter, pair.Q, beta, inverse: false);
        ScaleChannels(rewriter, pair.K, beta, inverse: true);
        return true;
    }

    /// <summary>
    /// y[:, cols] ← y[:, cols]·M on the side's columns of its projection: <paramref name="op"/> maps a vector of the
    /// side's <see cref="Side.Width"/> channels in place (x ← x·M); it is applied to each input's weights for those
    /// channels and to their bias entries. False when the projection no longer has the recognized form.
    /// </summary>
    public static bool TransformColumns(Rewriter rewriter, Side side, Action<Span<double>> op)
    {
        if (Layer(side.CurrentProjection()) is not var (layer, add, biasInput)) return false;
        var rows = layer.ReadRows();
        int k = rows.Length / layer.OutputChannels;
        var v = new double[side.Width];
        for (int i = 0; i < k; i++)
        {
            for (int c = 0; c < side.Width; c++) v[c] = rows[(long)(side.Offset + c) * k + i];
            op(v);
            for (int c = 0; c < side.Width; c++) rows[(long)(side.Offset + c) * k + i] = (float)v[c];
        }
        if (LinearLayer.SharingConflict([layer]) is null) LinearLayer.ReplaceWeight(rewriter, [layer], layer.WeightFromRows(rows));
        else rewriter.ReplaceInput(layer.Node, 1, rewriter.AddConstant(layer.WeightFromRows(rows), layer.Weight.Name));
        if (add is null) return true;
        var biasValue = add.Inputs[biasInput]!;
        var t = biasValue.Const!;
        var bias = t.ToFloatArray();
        for (int c = 0; c < side.Width; c++) v[c] = bias[side.Offset + c];
        op(v);
        for (int c = 0; c < side.Width; c++) bias[side.Offset + c] = (float)v[c];
        rewriter.ReplaceInput(add, biasInput, rewriter.AddConstant(TensorConversions.FromFloats(t.ElementType, bias, t.Dims.ToArray()), biasValue.Name));
        return true;
    }

    /// <summary>The number of heads a side's Reshape splits its channels into, and their width, when known.</summary>
    public static (int Heads, int HeadDim)? HeadSplit(Side side) =>
        side.Reshape.Outputs[0]?.Shape is { Rank: 4 } s && s[2].IsKnown && s[3].IsKnown ? ((int)s[2].Value!.Value, (int)s[3].Value!.Value) : null;

    private static void ScaleChannels(Rewriter rewriter, Side side, double[] beta, bool inverse)
    {
        var (layer, add, biasInput) = Layer(side.CurrentProjection())!.Value;
        var rows = layer.ReadRows();
        int k = rows.Length / layer.OutputChannels;
        for (int c = 0; c < side.Width; c++)
        {
            double f = inverse ? 1 / beta[c] : beta[c];
            int row = side.Offset + c;
            for (int i = 0; i < k; i++) rows[row * k + i] = (float)(rows[row * k + i] * f);
        }
        // A weight shared with other readers gets a copy: only this projection's channels are scaled.
        if (LinearLayer.SharingConflict([layer]) is null) LinearLayer.ReplaceWeight(rewriter, [layer], layer.WeightFromRows(rows));
        else rewriter.ReplaceInput(layer.Node, 1, rewriter.AddConstant(layer.WeightFromRows(rows), layer.Weight.Name));
        if (add is null) return;
        var biasValue = add.Inputs[biasInput]!;
        var t = biasValue.Const!;
        var bias = t.ToFloatArray();
        for (int c = 0; c < side.Width; c++) bias[side.Offset + c] = (float)(bias[side.Offset + c] * (inverse ? 1 / beta[c] : beta[c]));
        rewriter.ReplaceInput(add, biasInput, rewriter.AddConstant(TensorConversions.FromFloats(t.ElementType, bias, t.Dims.ToArray()), biasValue.Name));
    }
}
