using OnnxQuant.Ir;
using OnnxQuant.Passes.Rewriting;
using static OnnxQuant.Passes.Rewriting.Pattern;

namespace OnnxQuant.Passes.Fusion;

/// <summary>
/// Fuses <c>Add(MatMul(A, B), C)</c> into <c>Gemm(A, B, C)</c> (α = β = 1, no transposes), where ONNX Runtime itself
/// prefers Gemm: A of rank 2 (known), B a constant float matrix, and C a float constant that Gemm can broadcast to
/// the (M, N) result without changing its shape ([N], [1, N], [M, N], [M, 1], one element). ORT fuses MatMul+Add into
/// Gemm only for 2-D inputs too; a rank-3 activation stays MatMul+Add (Gemm would need Reshapes around it, and
/// quantizers handle MatMul+Add as well). Anchored at the MatMul. The MatMul's output must be read only by the Add
/// and be no graph output. Gemm broadcasts C unidirectionally from opset 7; below it the fusion is counted as
/// <c>skipped-opset</c>.
/// </summary>
public sealed class FuseMatMulAddPass : Pass<NoOptions>
{
    /// <summary>The first Gemm version with unidirectional broadcasting of C (and no broadcast attribute).</summary>
    public const long RequiredOpset = 7;

    public override string Name => "fuse-matmul-add";
    public override string Summary => "Fuse MatMul+Add into Gemm for 2-D activations with a constant weight and bias (as ORT prefers).";

    public override PassResult Run(Model model, NoOptions options, PassContext context) =>
        FusionRun.Apply(this, model, context, [new FuseMatMulAdd()], "MatMul+Add pair(s)");

    private sealed class FuseMatMulAdd : TreePattern
    {
        protected override ValuePattern Define() =>
            Op("Add", Op("MatMul", Any("a"), Constant("b")).Anchor(), Constant("c"));

        protected override string? Check(MatchResult match, RewriteContext context)
        {
            // Only rank-2 activations: what ORT fuses itself, and what Gemm accepts without reshaping.
            if (match.Value("a").Shape is not { Rank: 2 } aShape) return "the activation is not known to be 2-D";
            if (match.Constant("b") is not { ElementType: DataType.Float, Rank: 2 } weight) return "the weight is not a constant float matrix";
            var bias = match.Constant("c");
            if (bias.ElementType != DataType.Float) return $"the bias is {bias.ElementType.OnnxName()}, not float";
            long? m = aShape[0].Value;
            long n = weight.Dims[1];
            if (aShape[1].Value is long k && k != weight.Dims[0]) return $"the activation has {k} columns but the weight has {weight.Dims[0]} rows";
            bool fits = bias.Rank switch
            {
                0 => true,
                1 => bias.Dims[0] == n || bias.Dims[0] == 1,
                2 => (bias.Dims[0] == 1 || bias.Dims[0] == m) && (bias.Dims[1] == n || bias.Dims[1] == 1),
                _ => false,
            };
            return fits ? null : $"the bias of shape {bias} does not broadcast to [{m?.ToString() ?? "?"},{n}] without changing it";
        }

        public override string? Unsupported(RewriteContext context) => context.RequireOpset(RequiredOpset, "Gemm with broadcasting");

        public override void Rewrite(Rewriter rewriter, MatchResult match)
        {
            var gemm = rewriter.InsertBefore(match.Root, new Node("Gemm", [match.Value("a"), match.Value("b"), match.Value("c")], 1, "", name: match.Root.Name));
            rewriter.Replace(match, gemm.Output);
        }
    }
}
