using OnnxQuant.Ir;
using OnnxQuant.Passes.Rewriting;

namespace OnnxQuant.Passes.CustomOps;

/// <summary>
/// Rewrites what the quantizers emit into OnnxQuant's own ONNX Runtime operators (runtime/kernels, domain
/// <c>com.onnxquant</c> version 1; registered automatically by every command that runs a model):
/// <list type="bullet">
/// <item><c>com.microsoft.MatMulNBits</c> with 4 or 8 bits → <c>MatMulW4A8</c>: the same inputs and layout; activations
/// quantized per token (one int8 scale per row of A) instead of per block of K as MatMulNBits' accuracy level 4
/// does, int32 accumulation, the group scales applied once per block.</item>
/// <item><c>MatMul(DQ(Q(x)), DQ(W int8, per-column or per-tensor scale, zero point 0))</c> → <c>MatMulW8A8(x, W,
/// scale)</c>: the static activation range is dropped for a per-token range measured at run time.</item>
/// <item>insert-dynamic-qdq's <c>DynamicQuantizeLinear → MatMulInteger → Cast → Mul(s_x·s_w)</c> with the same kind of
/// weight → <c>MatMulW8A8</c>: ORT's per-tensor run-time range becomes a per-token one
/// (<see cref="FuseDynamicMatMulIntoW8A8"/>).</item>
/// <item>The binary-coded float decomposition that <c>rounding: gptqt</c> exports, read by a MatMul →
/// <c>BcqMatMul</c> with the sign planes packed 1 bit per weight (<see cref="FuseBinaryCodedMatMulIntoBcq"/>); float
/// activations, so this one is exact up to float summation order. Does not fire when the decomposition's shape
/// differs from the export's (reason in <c>--stats</c>).</item>
/// <item>RepQ-ViT's log√2 export and the attention-times-V MatMul after it → <c>Log2AttnMatMul</c> (exact codes,
/// shift-and-add product; <see cref="FuseLog2AttnIntoLog2AttnMatMul"/>).</item>
/// <item>The online Hadamard MatMul of <c>rotate</c> (a constant normalized H_K ⊗ H_{2^m}) → <c>HadamardTransform</c>
/// (<see cref="FuseHadamardMatMulIntoTransform"/>; float, exact up to summation order).</item>
/// <item><c>Add(op(…), b)</c> with b a constant float [N] → the op's bias input (one pass over the output less).</item>
/// <item>A <c>HadamardTransform</c> read only by a <c>MatMulW4A8</c>/<c>MatMulW8A8</c> → that op's <c>hadamard</c>
/// attributes: each row is transformed and quantized in one pass (<see cref="FoldHadamardIntoQuantizedMatMul"/>; bit-identical).</item>
/// </list>
/// Not exact: the activation rounding changes (per token instead of the calibrated range or per block); tests bound
/// the difference. Does not fire (reason in <c>--stats</c>) on MatMulNBits with bits other than 4 and 8, g_idx, non-float A or
/// scales, float zero points or a block size that is not a multiple of 8; on MatMuls whose weight is not a constant
/// int8 DequantizeLinear with zero point 0 and per-column (axis 1) or per-tensor scale, whose activation is not
/// DequantizeLinear(QuantizeLinear(x)) of a float x, whose x is clipped to fewer than 256 codes (an emulated low-bit
/// activation, which per-token int8 would widen), or whose K exceeds 65536 (int32 sums stay exact). Only the
/// <c>-fast</c> presets run it: every other preset stays standard ONNX (plus com.microsoft).
/// </summary>
public sealed class FuseCustomOpsPass : Pass<NoOptions>
{
    public const string Domain = "com.onnxquant";
    public const long DomainVersion = 1;
    public const int MaxW8A8K = 65536;

    public override string Name => "fuse-custom-ops";
    public override string Summary => "Rewrite 4- and 8-bit MatMulNBits, int8 QDQ MatMul, GPTQT binary-coded MatMul and RepQ's log2 attention and rotate's online Hadamard MatMul into OnnxQuant's kernels (com.onnxquant MatMulW4A8, MatMulW8A8, BcqMatMul, Log2AttnMatMul, HadamardTransform).";

    public override PassResult Run(Model model, NoOptions options, PassContext context)
    {
        var ops = RewriteDriver.Apply(model, [new FuseMatMulNBitsIntoW4A8(), new FuseQdqMatMulIntoW8A8(), new FuseDynamicMatMulIntoW8A8(), new FuseBinaryCodedMatMulIntoBcq(), new FuseLog2AttnIntoLog2AttnMatMul(), new FuseHadamardMatMulIntoTransform()], context);
        var bias = RewriteDriver.Apply(model, [new FoldAddIntoCustomOpBias()], context);
        var rows = RewriteDriver.Apply(model, [new FoldHadamardIntoQuantizedMatMul()], context);
        if (ops.Applications > 0)
        {
            context.Count("w4a8", ops.Applied.GetValueOrDefault(nameof(FuseMatMulNBitsIntoW4A8)));
            context.Count("w8a8", ops.Applied.GetValueOrDefault(nameof(FuseQdqMatMulIntoW8A8)));
            context.Count("w8a8-dynamic", ops.Applied.GetValueOrDefault(nameof(FuseDynamicMatMulIntoW8A8)));
            context.Count("bcq", ops.Applied.GetValueOrDefault(nameof(FuseBinaryCodedMatMulIntoBcq)));
            context.Count("log2-attn", ops.Applied.GetValueOrDefault(nameof(FuseLog2AttnIntoLog2AttnMatMul)));
            context.Count("hadamard", ops.Applied.GetValueOrDefault(nameof(FuseHadamardMatMulIntoTransform)));
            if (model.GetOpset(Domain) is null) model.SetOpset(Domain, DomainVersion);
        }
        if (bias.Applications > 0) context.Count("bias-folded", bias.Applications);
        if (rows.Applications > 0) context.Count("hadamard-folded", rows.Applications);
        return ops.Applications + bias.Applications + rows.Applications > 0 ? PassResult.Changed : PassResult.Unchanged;
    }
}
