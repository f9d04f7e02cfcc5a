using OnnxQuant.Ir;
using OnnxQuant.Passes.Numerics;
using OnnxQuant.Passes.Rewriting;

namespace OnnxQuant.Passes.CustomOps;

/// <summary>
/// <c>MatMul(x, C)</c> with C a constant float [D, D] equal to (H_K ⊗ H_{2^m})/√D — the online Hadamard the
/// <c>rotate</c> pass writes before fc2/down-projections — → <c>com.onnxquant.HadamardTransform(x, H_Kᵀ)</c>: a fast
/// Walsh–Hadamard transform, O(D·log D) per row instead of the D² multiply-adds of the MatMul, and no D×D constant to
/// stream from memory. MatMul computes y = x·C = Cᵀ·x per row while the op computes (B ⊗ H_{2^m})·x for its base
/// B, and Sylvester's H_{2^m} is symmetric, so the op gets B = H_Kᵀ. Float results differ from the MatMul's only by
/// summation order (tests bound it). Does not fire when C is not exactly ±1/√D in the pattern of
/// <see cref="Hadamard.ForOrder"/> (either orientation), when D has no Hadamard matrix, or when x is not float.
/// </summary>
internal sealed class FuseHadamardMatMulIntoTransform : RewritePattern
{
    public const string OpType = "HadamardTransform";

    public override string RootOpType => "MatMul";

    public override MatchResult Match(Node root, RewriteContext context)
    {
        if (root.Inputs[1] is not { } cv || ConstantNode.ConstantOf(cv) is not { ElementType: DataType.Float, Rank: 2 } c)
            return MatchResult.Fail("its second input is not a constant float matrix");
        if (c.Dims[0] != c.Dims[1] || c.Dims[0] < 2 || c.Dims[0] > int.MaxValue / c.Dims[0])
            return MatchResult.Fail("its constant is not a square matrix of a usable order");
        int order = (int)c.Dims[0];
        if (!Hadamard.IsSupportedOrder(order)) return MatchResult.Fail($"order {order} has no Hadamard matrix");
        if (root.Inputs[0] is not { ElementType: DataType.Float } x) return MatchResult.Fail("its activation is not known to be float");
        if (!MatchesScaledHadamard(c.AsSpan<float>(), Hadamard.ForOrder(order), out _))
            return MatchResult.Fail("its constant is not a normalized Hadamard matrix");
        return MatchResult.Success(root, [], new Dictionary<string, Value> { ["x"] = x, ["c"] = cv });
    }

    /// <summary>
    /// True when every entry is exactly ±(float)(1/√D) with the signs of H (or of Hᵀ: <paramref name="isTransposed"/>).
    /// The rotate pass writes exactly these floats; anything else is some other matrix.
    /// </summary>
    private static bool MatchesScaledHadamard(ReadOnlySpan<float> c, HadamardMatrix h, out bool isTransposed)
    {
        int n = h.Order;
        float scale = (float)(1 / Math.Sqrt(n));
        var entries = h.Entries;
        bool plain = true, swapped = true;
        for (int i = 0; i < n && (plain || swapped); i++)
            for (int j = 0; j < n; j++)
            {
                float v = c[i * n + j];
                if (v != scale && v != -scale) { isTransposed = false; return false; }
                int sign = v > 0 ? 1 : -1;
                plain &= sign == entries[i * n + j];
                swapped &= sign == entries[j * n + i];
            }
        isTransposed = !plain && swapped;
        return plain || swapped;
    }

    public override void Rewrite(Rewriter rewriter, MatchResult match)
    {
        var root = match.Root;
        var c = match.Constant("c");
        var h = Hadamard.ForOrder((int)c.Dims[0]);
        MatchesScaledHadamard(c.AsSpan<float>(), h, out bool isTransposed);
        var inputs = new List<Value?> { match.Value("x") };
        if (h.BaseOrder > 1)
        {
            // C = s·(H_K ⊗ S) gives the op base H_Kᵀ; C = s·(H_K ⊗ S)ᵀ = s·(H_Kᵀ ⊗ S) gives it H_K.
            var hk = Hadamard.BaseMatrix(h.BaseOrder);
            int k = hk.Order;
            var baseEntries = new sbyte[k * k];
            for (int i = 0; i < k; i++)
                for (int j = 0; j < k; j++)
                    baseEntries[i * k + j] = isTransposed ? hk[i, j] : hk[j, i];
            inputs.Add(rewriter.AddConstant(Tensor.FromSpan<sbyte>(DataType.Int8, baseEntries, [k, k]), $"hadamard_base_{k}{(isTransposed ? "" : "_t")}"));
        }
        var node = rewriter.InsertBefore(root, new Node(OpType, inputs, 1, FuseCustomOpsPass.Domain, [Attribute.Int("normalized", 1)], root.Name));
        rewriter.Replace(match, node);
    }
}
