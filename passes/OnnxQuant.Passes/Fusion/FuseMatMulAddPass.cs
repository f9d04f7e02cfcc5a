using OnnxQuant.Ir;
using static OnnxQuant.Passes.Fusion.FusionPatterns;

namespace OnnxQuant.Passes.Fusion;

/// <summary>
/// Fuses <c>Add(MatMul(A, B), C)</c> into <c>Gemm(A, B, C)</c> (α = β = 1, no transposes), where ONNX Runtime itself
/// prefers Gemm: A of rank 2 (known), B a constant float matrix, and C a float constant that Gemm can broadcast to
/// the (M, N) result without changing its shape ([N], [1, N], [M, N], [M, 1], one element). ORT fuses MatMul+Add into
/// Gemm only for 2-D inputs too; a rank-3 activation stays MatMul+Add (Gemm would need Reshapes around it, and
/// quantizers handle MatMul+Add as well). The MatMul's output must be read only by the Add and be no graph output.
/// Gemm broadcasts C unidirectionally from opset 7; below it the fusion is counted as <c>skipped-opset</c>.
/// </summary>
public sealed class FuseMatMulAddPass : Pass<NoOptions>
{
    /// <summary>The first Gemm version with unidirectional broadcasting of C (and no broadcast attribute).</summary>
    public const long RequiredOpset = 7;

    public override string Name => "fuse-matmul-add";
    public override string Summary => "Fuse MatMul+Add into Gemm for 2-D activations with a constant weight and bias (as ORT prefers).";

    private sealed record Match(Node MatMul, Node Add, Value Bias);

    public override PassResult Run(Model model, NoOptions options, PassContext context) =>
        FusionDriver.Run<Match>(this, model, context, ["MatMul"], TryMatch, Rewrite, requires: (RequiredOpset, (count, opset) =>
            $"{count} MatMul+Add pair(s) left as they are: Gemm broadcasting needs opset >= {RequiredOpset}, the model has {opset}."));

    /// <summary>Null on success; "" when the MatMul is not followed by an Add of a constant; else why it does not fuse.</summary>
    private static string? TryMatch(Node matMul, long opset, out Match? match)
    {
        match = null;
        if (matMul.Inputs.Count != 2 || matMul.Inputs[0] is not { } a || matMul.Inputs[1] is not { } b || matMul.Outputs[0] is not { } y)
            return "";
        if (SoleUser(y, "Add") is not { } add || Other(add, y) is not { } c || ConstantNode.ConstantOf(c) is not { } bias)
            return "";
        // Only rank-2 activations: what ORT fuses itself, and what Gemm accepts without reshaping.
        if (a.Shape is not { Rank: 2 } aShape) return "";
        if (ConstantNode.ConstantOf(b) is not { ElementType: DataType.Float, Rank: 2 } weight) return $"the weight {b} is not a constant float matrix";
        if (bias.ElementType != DataType.Float) return $"the bias {c} is {bias.ElementType.OnnxName()}, not float";
        long? m = aShape[0].Value;
        long n = weight.Dims[1];
        if (aShape[1].Value is long k && k != weight.Dims[0]) return $"{a} has {k} columns but the weight has {weight.Dims[0]} rows";
        bool fits = bias.Rank switch
        {
            0 => true,
            1 => bias.Dims[0] == n || bias.Dims[0] == 1,
            2 => (bias.Dims[0] == 1 || bias.Dims[0] == m) && (bias.Dims[1] == n || bias.Dims[1] == 1),
            _ => false,
        };
        if (!fits) return $"the bias {c} of shape {bias} does not broadcast to [{m?.ToString() ?? "?"},{n}] without changing it";
        match = new Match(matMul, add, c);
        return null;
    }

    private static void Rewrite(Match m, long opset)
    {
        var gemm = new Node("Gemm", [m.MatMul.Inputs[0], m.MatMul.Inputs[1], m.Bias], 1, "", name: m.Add.Name);
        Replace(m.Add, gemm, [m.MatMul, m.Add]);
    }
}
