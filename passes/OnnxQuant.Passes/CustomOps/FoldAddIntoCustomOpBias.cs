using OnnxQuant.Ir;
using OnnxQuant.Passes.Rewriting;

namespace OnnxQuant.Passes.CustomOps;

/// <summary>
/// <c>Add(MatMulW4A8|MatMulW8A8|BcqMatMul(…), b)</c> (either order) with b a constant float [N] and the op without a bias →
/// the op with bias input b. The kernel adds it in the same fused multiply-add that scales the result.
/// </summary>
internal sealed class FoldAddIntoCustomOpBias : RewritePattern
{
    private const int BiasInput = 4;

    public override string RootOpType => "Add";

    public override MatchResult Match(Node root, RewriteContext context)
    {
        string? last = null;
        for (int i = 0; i < 2; i++)
        {
            var op = root.Inputs[i]?.Producer;
            var other = root.Inputs[1 - i];
            if (op is null || op.Domain != FuseCustomOpsPass.Domain || op.OpType is not (FuseMatMulNBitsIntoW4A8.OpType or FuseQdqMatMulIntoW8A8.OpType or FuseBinaryCodedMatMulIntoBcq.OpType))
            {
                last ??= "neither input is a MatMulW4A8, MatMulW8A8 or BcqMatMul";
                continue;
            }
            if (op.Inputs.Count > BiasInput && op.Inputs[BiasInput] is not null) { last = $"the {op.OpType} already has a bias"; continue; }
            if (other is null || ConstantNode.ConstantOf(other) is not { ElementType: DataType.Float, Rank: 1 } b) { last = "the other input is not a constant float vector"; continue; }
            long n = op.OpType != FuseQdqMatMulIntoW8A8.OpType ? op.GetInt("N", -1) : ConstantNode.ConstantOf(op.Inputs[1]!)!.Dims[1];
            if (b.ElementCount != n) { last = $"the constant has {b.ElementCount} values, not N = {n}"; continue; }
            if (op.Output.Uses.Count != 1 || op.Output.IsAnyGraphOutput) { last = $"the {op.OpType}'s output has other readers"; continue; }
            return MatchResult.Success(root, [op], new Dictionary<string, Value> { ["bias"] = other }, new Dictionary<string, Node> { ["op"] = op });
        }
        return MatchResult.Fail(last!);
    }

    public override void Rewrite(Rewriter rewriter, MatchResult match)
    {
        var op = match.Node("op");
        var inputs = op.Inputs.ToList();
        while (inputs.Count < BiasInput) inputs.Add(null);
        inputs.Add(match.Value("bias"));
        var node = rewriter.InsertBefore(match.Root, new Node(op.OpType, inputs, 1, op.Domain, op.Attributes, op.Name));
        rewriter.Replace(match, node);
    }
}
