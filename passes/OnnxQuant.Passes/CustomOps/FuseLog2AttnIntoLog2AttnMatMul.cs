using OnnxQuant.Ir;
using OnnxQuant.Passes.Quantization.Repq;
using OnnxQuant.Passes.Rewriting;

namespace OnnxQuant.Passes.CustomOps;

/// <summary>
/// RepQ-ViT's standard-ONNX log√2 export followed by attention-times-V,
/// <c>MatMul(Gather(values, code(A)), DequantizeLinear(V_q, s_V, z_V))</c> where code(A) is the binary search that
/// <see cref="Log2Export"/> writes (b + 1 steps of LessOrEqual/Gather/Where over a threshold table), →
/// <c>com.onnxquant.Log2AttnMatMul(A, thresholds, V_q, s_V, z_V)</c> with attribute a_scale = s.
/// <para>
/// The op reads the probabilities A, not codes: it replaces the whole chain (3b + 3 ops and their int64 [.., M, T]
/// intermediates) and counts thresholds itself, from the same float32 table, so its codes equal the export's for
/// every input. Matched by structure and by value: the tables must be bit for bit those of
/// <see cref="Log2Quantizer"/>(values[0], b), so only a real log√2 quantizer fuses. Exact in the codes; the product
/// is computed exactly in integers and rounded once, so it differs from ORT's float MatMul of the export only by that
/// MatMul's own float rounding.
/// </para>
/// Does not fire (reason recorded) when the MatMul's first input is not that chain, an intermediate has readers
/// outside it, b is outside 2..8, V is not a DequantizeLinear of uint8/int8 with
/// one constant scale and zero point, or A's and V's shapes are not known to share their leading axes.
/// </summary>
internal sealed class FuseLog2AttnIntoLog2AttnMatMul : RewritePattern
{
    public const string OpType = "Log2AttnMatMul";

    public override string RootOpType => "MatMul";

    public override MatchResult Match(Node root, RewriteContext context)
    {
        if (root.Inputs[0] is not { Producer: { OpType: "Gather", IsDefaultDomain: true } dequantize } || dequantize.GetInt("axis", 0) != 0
            || ConstantNode.ConstantOf(dequantize.Inputs[0]!) is not { ElementType: DataType.Float, Rank: 1 } values)
            return MatchResult.Fail("its first input is not a log√2 value table read by Gather");
        var chain = new List<Node> { dequantize };
        var q = dequantize.Inputs[1]!;
        Value? a = null, thresholdTable = null;
        Tensor? thresholds = null;
        int bits = 0;
        // Walk the binary search back: q = Where(LessOrEqual(A, Gather(T, Add(q', 2^j − 1))), Add(q', 2^j), q').
        while (q.Producer is { OpType: "Where", IsDefaultDomain: true } where && where.Inputs[0]?.Producer is { OpType: "LessOrEqual" } le
               && where.Inputs[1]?.Producer is { OpType: "Add" } up && where.Inputs[2] is { } previous
               && le.Inputs[1]?.Producer is { OpType: "Gather" } gather && gather.Inputs[1]?.Producer is { OpType: "Add" } index)
        {
            long step = 1L << bits;
            if (up.Inputs[0] != previous || ScalarInt(up.Inputs[1]) != step || index.Inputs[0] != previous || ScalarInt(index.Inputs[1]) != step - 1)
                return MatchResult.Fail("a step of the log√2 code search has unexpected offsets");
            if (ConstantNode.ConstantOf(gather.Inputs[0]!) is not { ElementType: DataType.Float, Rank: 1 } t || (thresholdTable is not null && gather.Inputs[0] != thresholdTable))
                return MatchResult.Fail("the log√2 code search does not read one constant threshold table");
            thresholds ??= t;
            thresholdTable ??= gather.Inputs[0];
            if (a is not null && le.Inputs[0] != a) return MatchResult.Fail("the log√2 code search compares different tensors");
            a = le.Inputs[0];
            chain.AddRange([where, le, up, gather, index]);
            q = previous;
            bits++;
        }
        if (q.Producer is not { OpType: "Where", IsDefaultDomain: true } first || first.Inputs[0]?.Producer is not { OpType: "LessOrEqual" } firstLe
            || a is null || thresholds is null || firstLe.Inputs[0] != a)
            return MatchResult.Fail("its first input is not RepQ's log√2 code search (Where/LessOrEqual/Gather steps)");
        chain.AddRange([first, firstLe]);
        int levels = 1 << bits;
        if (bits is < 2 or > 8) return MatchResult.Fail($"the log√2 codes have {bits} bits (Log2AttnMatMul takes 2..8)");
        if (ScalarInt(first.Inputs[1]) != levels || ScalarInt(first.Inputs[2]) != 0 || ConstantNode.ConstantOf(firstLe.Inputs[1]!) is not { ElementCount: 1 } top)
            return MatchResult.Fail("the first step of the log√2 code search is not Where(A ≤ T_top, 2^b, 0)");
        if (values.ElementCount != levels + 1 || thresholds.ElementCount != 2 * levels)
            return MatchResult.Fail("the log√2 tables do not have 2^b + 1 values and 2^(b+1) padded thresholds");
        var valueSpan = values.AsSpan<float>();
        var thresholdSpan = thresholds.AsSpan<float>();
        float scale = valueSpan[0];
        if (!(scale > 0) || !float.IsFinite(scale)) return MatchResult.Fail("the log√2 scale (values[0]) is not positive and finite");
        var quantizer = new Log2Quantizer(scale, bits);
        if (!valueSpan.SequenceEqual(quantizer.Values) || !thresholdSpan[..levels].SequenceEqual(quantizer.Thresholds)
            || top.AsSpan<float>()[0] != quantizer.Thresholds[levels - 1])
            return MatchResult.Fail("the tables are not those of a log√2 quantizer with scale values[0]");
        for (int i = levels; i < 2 * levels; i++)
            if (thresholdSpan[i] != float.NegativeInfinity) return MatchResult.Fail("the threshold table is not padded with -inf");
        foreach (var node in chain)
            foreach (var output in node.Outputs)
                if (output is not null && (output.IsAnyGraphOutput || output.Uses.Any(u => u.Node != root && !chain.Contains(u.Node))))
                    return MatchResult.Fail("an intermediate of the log√2 code search has readers outside it");

        if (root.Inputs[1] is not { Producer: { OpType: "DequantizeLinear", IsDefaultDomain: true } dqv } || dqv.Inputs[0] is not { } vq
            || vq.ElementType is not (DataType.UInt8 or DataType.Int8))
            return MatchResult.Fail("V is not read through a DequantizeLinear of uint8 or int8 codes");
        if (dqv.Inputs.Count < 2 || dqv.Inputs[1] is not { } sv || ConstantNode.ConstantOf(sv) is not { ElementType: DataType.Float, ElementCount: 1 })
            return MatchResult.Fail("V's scale is not one constant float (per tensor)");
        Value? zv = dqv.Inputs.Count > 2 ? dqv.Inputs[2] : null;
        if (zv is not null && (ConstantNode.ConstantOf(zv) is not { ElementCount: 1 } z || z.ElementType != vq.ElementType))
            return MatchResult.Fail("V's zero point is not one constant of V's type");
        if (a.ElementType is not DataType.Float) return MatchResult.Fail("the probabilities are not known to be float");
        if (a.Shape is not { Rank: >= 2 } sa || vq.Shape is not { } sq || sq.Rank != sa.Rank)
            return MatchResult.Fail("A's and V's ranks are not known to be equal");
        for (int i = 0; i < sa.Rank - 2; i++)
            if (!SameDim(sa[i], sq[i])) return MatchResult.Fail($"A's and V's axis {i} are not known to be equal (MatMul would broadcast)");

        var captured = new Dictionary<string, Value> { ["a"] = a, ["vq"] = vq, ["v_scale"] = sv, ["thresholds"] = thresholdTable!, ["values"] = dequantize.Inputs[0]! };
        if (zv is not null) captured["v_zero"] = zv;
        return MatchResult.Success(root, chain, captured, new Dictionary<string, Node> { ["dqv"] = dqv });
    }

    private static bool SameDim(Dim x, Dim y) => x.IsKnown ? y.IsKnown && x.Value == y.Value : x.Param is not null && x.Param == y.Param;

    private static long? ScalarInt(Value? v) =>
        v is not null && ConstantNode.ConstantOf(v) is { ElementType: DataType.Int64, ElementCount: 1 } t ? t.AsSpan<long>()[0] : null;

    public override void Rewrite(Rewriter rewriter, MatchResult match)
    {
        var root = match.Root;
        var padded = match.Constant("thresholds");
        int levels = (int)padded.ElementCount / 2;
        var thresholds = rewriter.AddConstant(Tensor.FromFloats(padded.AsSpan<float>()[..levels], levels), (root.Name ?? "attention") + "_log2_thresholds");
        float scale = match.Constant("values").AsSpan<float>()[0];
        var inputs = new List<Value?> { match.Value("a"), thresholds, match.Value("vq"), match.Value("v_scale") };
        if (match.Values.TryGetValue("v_zero", out var zero)) inputs.Add(zero);
        var node = rewriter.InsertBefore(root, new Node(OpType, inputs, 1, FuseCustomOpsPass.Domain, [Attribute.Float("a_scale", scale)], root.Name));
        rewriter.Replace(match, node);
        rewriter.RemoveDead([match.Node("dqv")]);
    }
}
