using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Reporting;

/// <summary>
/// Decodes the constant weight of a dynamic-quantization MatMulInteger back to the float [K, N] matrix it stands for,
/// from the pattern insert-dynamic-qdq writes: <c>MatMulInteger(x_q, W_q, x_zp, W_zp) → Cast(float) → Mul(·, Mul(x_scale,
/// W_scale))</c>, with W_scale a constant scalar or [N] and W_zp a constant scalar or [N] (absent: 0).
/// </summary>
public static class MatMulIntegerWeights
{
    /// <summary>The weight as a row-major [K, N] float array, or null when the node is not in that pattern.</summary>
    public static float[]? Decode(Node node)
    {
        if (node.OpType != "MatMulInteger" || !node.IsDefaultDomain || node.Inputs.Count < 2) return null;
        if (node.Inputs[1] is not { } wv || ConstantNode.ConstantOf(wv) is not { Rank: 2 } codes) return null;
        if (codes.ElementType is not (DataType.Int8 or DataType.UInt8)) return null;
        long k = codes.Dims[0], n = codes.Dims[1];
        float[]? zero = null;
        if (node.Inputs.Count > 3 && node.Inputs[3] is { } zv)
        {
            if (ConstantNode.ConstantOf(zv) is not { } z || (z.ElementCount != 1 && z.ElementCount != n)) return null;
            zero = z.ToFloatArray();
        }
        if (WeightScale(node, n) is not { } scale) return null;
        var q = codes.ToFloatArray();
        var w = new float[k * n];
        for (long row = 0; row < k; row++)
            for (long col = 0; col < n; col++)
            {
                float zp = zero is null ? 0 : zero[zero.Length == 1 ? 0 : col];
                w[row * n + col] = (q[row * n + col] - zp) * scale[scale.Length == 1 ? 0 : col];
            }
        return w;
    }

    /// <summary>The constant factor of the scale product that multiplies the int32 result after its Cast.</summary>
    private static float[]? WeightScale(Node matMul, long n)
    {
        if (matMul.Output.Uses is not [{ Node: { OpType: "Cast" } cast }]) return null;
        foreach (var use in cast.Output.Uses)
        {
            if (use.Node.OpType != "Mul") continue;
            var other = use.Node.Inputs[use.InputIndex == 0 ? 1 : 0];
            if (other?.Producer is not { OpType: "Mul" } product) continue;
            foreach (var factor in product.Inputs)
                if (factor is not null && ConstantNode.ConstantOf(factor) is { } s && (s.ElementCount == 1 || s.ElementCount == n))
                    return s.ToFloatArray();
        }
        return null;
    }
}
