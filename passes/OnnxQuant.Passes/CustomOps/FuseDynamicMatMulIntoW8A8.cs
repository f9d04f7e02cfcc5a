using OnnxQuant.Ir;
using OnnxQuant.Passes.Rewriting;

namespace OnnxQuant.Passes.CustomOps;

/// <summary>
/// insert-dynamic-qdq's form, <c>Mul(Cast&lt;float&gt;(MatMulInteger(DynamicQuantizeLinear(x), W, z_x, 0)), Mul(s_x, s_w))</c>
/// with W a constant int8 [K, N] and s_w per column ([N]) or per tensor → <c>com.onnxquant.MatMulW8A8(x, W, s_w)</c>.
/// Identity relied on: both compute x·(W·s_w) with x rounded to int8; ORT's range is one (asymmetric uint8) range per
/// tensor, the kernel's one symmetric int8 range per token (row), which follows per-token outliers (ViDiT-Q's
/// per-token dynamic quantization) — so not exact; tests bound the difference. The DynamicQuantizeLinear stays while
/// other MatMulIntegers read it, and goes with the last. A following constant [N] bias Add is folded by
/// <see cref="FoldAddIntoCustomOpBias"/>.
/// </summary>
internal sealed class FuseDynamicMatMulIntoW8A8 : RewritePattern
{
    public override string RootOpType => "Mul";

    public override MatchResult Match(Node root, RewriteContext context)
    {
        if (root.Inputs.Count != 2 || root.Inputs[0] is not { Producer: { OpType: "Cast", IsDefaultDomain: true } cast })
            return MatchResult.Fail("its first input is not a Cast");
        if (cast.GetInt("to", 0) != (long)DataType.Float || cast.Output.Uses.Count != 1 || cast.Output.IsAnyGraphOutput)
            return MatchResult.Fail("its Cast is not to float, or has other readers");
        if (cast.Inputs[0] is not { Producer: { OpType: "MatMulInteger", IsDefaultDomain: true } mmi } || mmi.Output.Uses.Count != 1 || mmi.Output.IsAnyGraphOutput)
            return MatchResult.Fail("its Cast does not read a MatMulInteger read only by it");
        if (mmi.Inputs[0] is not { Producer: { OpType: "DynamicQuantizeLinear", IsDefaultDomain: true } dql } xq || xq != dql.Outputs[0])
            return MatchResult.Fail("its MatMulInteger's activation is not a DynamicQuantizeLinear's output");
        if (dql.Inputs[0] is not { ElementType: DataType.Float } x) return MatchResult.Fail("its activation is not known to be float");
        if (x.Shape is { Rank: < 2 }) return MatchResult.Fail("its activation has rank 1");
        if (mmi.Inputs.Count < 3 || mmi.Inputs[2] != dql.Outputs[2]) return MatchResult.Fail("its MatMulInteger's activation zero point is not the DynamicQuantizeLinear's");
        if (mmi.Inputs[1] is not { } wv || ConstantNode.ConstantOf(wv) is not { ElementType: DataType.Int8, Rank: 2 } w)
            return MatchResult.Fail("its weight is not a constant int8 matrix");
        long k = w.Dims[0], n = w.Dims[1];
        if (k > FuseCustomOpsPass.MaxW8A8K) return MatchResult.Fail($"K = {k} exceeds {FuseCustomOpsPass.MaxW8A8K}");
        if (mmi.Inputs.Count > 3 && mmi.Inputs[3] is { } zv)
        {
            if (ConstantNode.ConstantOf(zv) is not { ElementType: DataType.Int8 } z) return MatchResult.Fail("its weight zero point is not a constant int8");
            foreach (sbyte v in z.AsSpan<sbyte>()) if (v != 0) return MatchResult.Fail("its weight zero point is not 0");
        }
        if (root.Inputs[1] is not { Producer: { OpType: "Mul", IsDefaultDomain: true } scaleMul } || scaleMul.Output.Uses.Count != 1 || scaleMul.Output.IsAnyGraphOutput)
            return MatchResult.Fail("its second input is not a scale Mul read only by it");
        if (scaleMul.Inputs[0] != dql.Outputs[1] || scaleMul.Inputs[1] is not { } sv || ConstantNode.ConstantOf(sv) is not { ElementType: DataType.Float } scale)
            return MatchResult.Fail("its scale is not the activation's scale times a constant float weight scale");
        bool perTensor = scale.ElementCount == 1 && scale.Rank <= 1;
        if (!perTensor && !(scale.Rank == 1 && scale.ElementCount == n))
            return MatchResult.Fail("its weight scale is neither per tensor nor per output column");
        var values = new Dictionary<string, Value> { ["x"] = x, ["w"] = wv, ["scale"] = sv };
        var nodes = new Dictionary<string, Node> { ["dql"] = dql, ["mmi"] = mmi };
        return MatchResult.Success(root, [cast, mmi, scaleMul], values, nodes);
    }

    public override void Rewrite(Rewriter rewriter, MatchResult match)
    {
        var mmi = match.Node("mmi");
        var node = rewriter.InsertBefore(match.Root, new Node(FuseQdqMatMulIntoW8A8.OpType, [match.Value("x"), match.Value("w"), match.Value("scale")],
            1, FuseCustomOpsPass.Domain, null, mmi.Name));
        // The float node the MatMulInteger stands for (insert-dynamic-qdq recorded it) is the one this stands for.
        NodeOrigin.CarryOver(node, mmi);
        rewriter.Replace(match, node);
        rewriter.RemoveDead([match.Node("dql")]);
    }
}
