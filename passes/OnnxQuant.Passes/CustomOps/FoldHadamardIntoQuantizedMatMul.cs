using OnnxQuant.Ir;
using OnnxQuant.Passes.Rewriting;

namespace OnnxQuant.Passes.CustomOps;

/// <summary>
/// <c>MatMulW4A8|MatMulW8A8(HadamardTransform(x[, H_K]), …)</c> → the matmul with attributes <c>hadamard</c> = 1,
/// <c>hadamard_base</c> (H_K's K·K entries, absent when K = 1) and <c>hadamard_normalized</c>: the kernel transforms
/// each row of A into a per-thread buffer and quantizes it from there (issue 14: the Hadamard transform "fused into
/// the following quantize"), instead of writing the rotated activation out and reading it back. The kernel runs
/// HadamardTransform's own row arithmetic, so the result is bit-identical to the unfused pair.
/// Does not fire (reason in <c>--stats</c>) when the transform's output has another reader or is a graph output, when
/// H_K is not a constant int8 square, or when the matmul already carries a transform.
/// </summary>
internal sealed class FoldHadamardIntoQuantizedMatMul : RewritePattern
{
    public override string RootOpType => FuseMatMulNBitsIntoW4A8.OpType;

    public override IReadOnlyList<string> OfferedOpTypes => [FuseMatMulNBitsIntoW4A8.OpType, FuseQdqMatMulIntoW8A8.OpType];

    public override string RootDomain => FuseCustomOpsPass.Domain;

    public override MatchResult Match(Node root, RewriteContext context)
    {
        if (root.GetAttribute("hadamard") is not null) return MatchResult.Fail("the matmul already applies a Hadamard transform");
        if (root.Inputs[0]?.Producer is not { OpType: FuseHadamardMatMulIntoTransform.OpType } transform || transform.Domain != FuseCustomOpsPass.Domain)
            return MatchResult.Fail("A is not a HadamardTransform's output");
        if (transform.Output.Uses.Count != 1 || transform.Output.IsAnyGraphOutput)
            return MatchResult.Fail("the HadamardTransform's output has other readers");
        if (transform.Inputs.Count > 1 && transform.Inputs[1] is { } hk
            && ConstantNode.ConstantOf(hk) is not { ElementType: DataType.Int8, Rank: 2 })
            return MatchResult.Fail("H_K is not a constant int8 matrix");
        return MatchResult.Success(root, [transform], new Dictionary<string, Value> { ["x"] = transform.Inputs[0]! }, new Dictionary<string, Node> { ["transform"] = transform });
    }

    public override void Rewrite(Rewriter rewriter, MatchResult match)
    {
        var root = match.Root;
        var transform = match.Node("transform");
        var attributes = root.Attributes.ToList();
        attributes.Add(Attribute.Int("hadamard", 1));
        attributes.Add(Attribute.Int("hadamard_normalized", transform.GetInt("normalized", 1)));
        if (transform.Inputs.Count > 1 && transform.Inputs[1] is { } hk)
        {
            var entries = ConstantNode.ConstantOf(hk)!.AsSpan<sbyte>();
            var values = new long[entries.Length];
            for (int i = 0; i < values.Length; i++) values[i] = entries[i];
            attributes.Add(Attribute.Ints("hadamard_base", values));
        }
        var inputs = root.Inputs.ToList();
        inputs[0] = match.Value("x");
        var node = rewriter.InsertBefore(root, new Node(root.OpType, inputs, 1, root.Domain, attributes, root.Name));
        rewriter.Replace(match, node);
    }
}
