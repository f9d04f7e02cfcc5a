using OnnxQuant.Ir;
using OnnxQuant.Passes.Rewriting;

namespace OnnxQuant.Passes.CustomOps;

/// <summary>
/// <c>MatMul(DequantizeLinear(QuantizeLinear(x)), DequantizeLinear(W, s_w, 0))</c> with W a constant int8 [K, N] and
/// s_w per column (axis 1) or per tensor → <c>com.onnxquant.MatMulW8A8(x, W, s_w)</c>. The activation's
/// QuantizeLinear/DequantizeLinear stay while other nodes read them (Q, K and V projections share one), and go with
/// the last reader.
/// </summary>
internal sealed class FuseQdqMatMulIntoW8A8 : RewritePattern
{
    public const string OpType = "MatMulW8A8";

    public override string RootOpType => "MatMul";

    public override MatchResult Match(Node root, RewriteContext context)
    {
        if (root.Inputs[0] is not { Producer: { OpType: "DequantizeLinear", IsDefaultDomain: true } dqx })
            return MatchResult.Fail("its activation is not read through DequantizeLinear");
        if (dqx.Inputs[0] is not { Producer: { OpType: "QuantizeLinear", IsDefaultDomain: true } qx } || qx.Inputs[0] is not { } x)
            return MatchResult.Fail("its activation's DequantizeLinear does not read a QuantizeLinear");
        if (x.ElementType is not DataType.Float) return MatchResult.Fail("its activation is not known to be float");
        if (EmulatesFewerThan8Bits(x, qx)) return MatchResult.Fail("its activation is clipped to fewer than 256 codes (emulated low-bit; per-token int8 would widen it)");
        if (x.Shape is { Rank: < 2 }) return MatchResult.Fail("its activation has rank 1");
        if (root.Inputs[1] is not { Producer: { OpType: "DequantizeLinear", IsDefaultDomain: true } dqw })
            return MatchResult.Fail("its weight is not a DequantizeLinear");
        if (dqw.Inputs[0] is not { } wv || ConstantNode.ConstantOf(wv) is not { ElementType: DataType.Int8, Rank: 2 } w)
            return MatchResult.Fail("its weight is not a constant int8 matrix");
        long k = w.Dims[0], n = w.Dims[1];
        if (k > FuseCustomOpsPass.MaxW8A8K) return MatchResult.Fail($"K = {k} exceeds {FuseCustomOpsPass.MaxW8A8K}");
        if (dqw.Inputs.Count < 2 || dqw.Inputs[1] is not { } sv || ConstantNode.ConstantOf(sv) is not { ElementType: DataType.Float } scale)
            return MatchResult.Fail("its weight scale is not a constant float tensor");
        if (dqw.GetInt("block_size", 0) != 0) return MatchResult.Fail("its weight is quantized in blocks");
        bool perTensor = scale.ElementCount == 1;
        long axis = dqw.GetInt("axis", 1);
        if (!perTensor && !(scale.Rank == 1 && scale.ElementCount == n && (axis == 1 || axis == -1)))
            return MatchResult.Fail("its weight scale is neither per tensor nor per output column (axis 1)");
        if (dqw.Inputs.Count > 2 && dqw.Inputs[2] is { } zv)
        {
            if (ConstantNode.ConstantOf(zv) is not { ElementType: DataType.Int8 } z) return MatchResult.Fail("its weight zero point is not a constant int8");
            foreach (sbyte v in z.AsSpan<sbyte>()) if (v != 0) return MatchResult.Fail("its weight zero point is not 0");
        }
        var values = new Dictionary<string, Value> { ["x"] = x, ["w"] = wv, ["scale"] = sv };
        var nodes = new Dictionary<string, Node> { ["dqx"] = dqx, ["qx"] = qx };
        return MatchResult.Success(root, [dqw], values, nodes);
    }

    /// <summary>insert-qdq's <c>activation-bits</c> below 8: a Clip to fewer than 256 codes of the QuantizeLinear's grid.</summary>
    private static bool EmulatesFewerThan8Bits(Value x, Node qx)
    {
        if (x.Producer is not { OpType: "Clip", IsDefaultDomain: true } clip || clip.Inputs.Count < 3) return false;
        if (ConstantNode.ConstantOf(clip.Inputs[1]!) is not { ElementType: DataType.Float, ElementCount: 1 } lo
            || ConstantNode.ConstantOf(clip.Inputs[2]!) is not { ElementType: DataType.Float, ElementCount: 1 } hi
            || qx.Inputs.Count < 2 || ConstantNode.ConstantOf(qx.Inputs[1]!) is not { ElementType: DataType.Float, ElementCount: 1 } s)
            return false;
        double codes = (hi.AsSpan<float>()[0] - (double)lo.AsSpan<float>()[0]) / s.AsSpan<float>()[0];
        return codes < 254.5;
    }

    public override void Rewrite(Rewriter rewriter, MatchResult match)
    {
        var root = match.Root;
        var scale = match.Value("scale");
        var node = rewriter.InsertBefore(root, new Node(OpType, [match.Value("x"), match.Value("w"), scale], 1, FuseCustomOpsPass.Domain, null, root.Name));
        rewriter.Replace(match, node);
        rewriter.RemoveDead([match.Node("dqx"), match.Node("qx")]);
    }
}
