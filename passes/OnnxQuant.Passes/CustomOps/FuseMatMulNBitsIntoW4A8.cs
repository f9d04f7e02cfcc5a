using OnnxQuant.Ir;
using OnnxQuant.Passes.Rewriting;

namespace OnnxQuant.Passes.CustomOps;

/// <summary>
/// <c>com.microsoft.MatMulNBits(A, B, scales, zero_points?, g_idx?, bias?)</c>, 4 or 8 bits →
/// <c>com.onnxquant.MatMulW4A8(A, B, scales, zero_points?, bias?)</c> with the same K, N, bits, block_size: the packed
/// weights are shared byte for byte. 8 bits is the int8 LM head that the w4a8 presets keep (<c>lm-head: 8</c>): at
/// one token it is the largest single weight (32000 × 2048 in the generated Llama) and ORT's 8-bit MatMulNBits ran it
/// at about the time of all 28 int4 layers together.
/// </summary>
internal sealed class FuseMatMulNBitsIntoW4A8 : RewritePattern
{
    public const string OpType = "MatMulW4A8";

    public override string RootOpType => "MatMulNBits";
    public override string RootDomain => "com.microsoft";

    public override MatchResult Match(Node root, RewriteContext context)
    {
        long bits = root.GetInt("bits", 4), block = root.GetInt("block_size", 0);
        if (bits is not (4 or 8)) return MatchResult.Fail($"it has {bits} bits (MatMulW4A8 takes 4 or 8)");
        if (block <= 0 || block % 8 != 0) return MatchResult.Fail($"its block size {block} is not a multiple of 8");
        var inputs = root.Inputs;
        if (inputs[0]?.ElementType is not DataType.Float) return MatchResult.Fail("its input A is not known to be float");
        if (inputs.Count > 4 && inputs[4] is not null) return MatchResult.Fail("it has g_idx (act-order), which MatMulW4A8 does not take");
        if (inputs.Count < 3 || inputs[1] is null || ConstantNode.ConstantOf(inputs[1]!) is null)
            return MatchResult.Fail("its B is not a constant");
        if (inputs[2] is not { } scales || ConstantNode.ConstantOf(scales) is not { ElementType: DataType.Float })
            return MatchResult.Fail("its scales are not a constant float tensor");
        if (inputs.Count > 3 && inputs[3] is { } zp && ConstantNode.ConstantOf(zp) is not { ElementType: DataType.UInt8 })
            return MatchResult.Fail("its zero points are not a constant packed uint8 tensor");
        if (inputs.Count > 5 && inputs[5] is { } bias && bias.ElementType is not DataType.Float)
            return MatchResult.Fail("its bias is not float");
        return MatchResult.Success(root, []);
    }

    public override void Rewrite(Rewriter rewriter, MatchResult match)
    {
        var root = match.Root;
        var inputs = root.Inputs;
        var fused = new List<Value?> { inputs[0], inputs[1], inputs[2], inputs.Count > 3 ? inputs[3] : null };
        if (inputs.Count > 5 && inputs[5] is not null) fused.Add(inputs[5]);
        while (fused[^1] is null) fused.RemoveAt(fused.Count - 1);
        var attrs = new[]
        {
            Attribute.Int("K", root.GetInt("K", 0)), Attribute.Int("N", root.GetInt("N", 0)),
            Attribute.Int("bits", root.GetInt("bits", 4)), Attribute.Int("block_size", root.GetInt("block_size", 0)),
        };
        var node = rewriter.InsertBefore(root, new Node(OpType, fused, 1, FuseCustomOpsPass.Domain, attrs, root.Name));
        rewriter.Replace(match, node);
    }
}
