using OnnxQuant.Ir;
using OnnxQuant.Passes.Rewriting;

namespace OnnxQuant.Passes.Quantization.Repq;

/// <summary>
/// Centers each channel of attention's k on its calibrated range (repq-vit's <c>center-keys</c>): k′ = k − c with
/// c_j = (min k_j + max k_j)/2, folded into the k projection's bias. Identity: q·(k − c)ᵀ = q·kᵀ − (q·c)·1ᵀ, a
/// constant along each row of the scores, and Softmax over the keys' axis is invariant to adding a constant to a row;
/// scaling the scores by a constant on the way keeps the shift a per-row constant. So the attention probabilities are
/// unchanged (up to float rounding), while every k channel's range becomes symmetric about 0: a per-tensor quantizer
/// no longer spends its 2^b codes on channel offsets (a k bias, a mean the projection gives every token).
/// <para>
/// Fires on a scores MatMul of <see cref="QkBalance"/>'s form whose output reaches a Softmax over its last axis
/// (the keys) through Mul/Div by a scalar constant only, each value on the way read by the next step alone. Does not
/// fire (reason recorded) otherwise: a mask or bias added to the scores, another reader, a Softmax over another axis.
/// </para>
/// </summary>
internal static class KeyCentering
{
    /// <summary>Why shifting k by a constant vector could change what the scores' readers compute, or null.</summary>
    public static string? Refusal(Node scores)
    {
        var v = scores.Outputs[0]!;
        while (true)
        {
            if (v.IsAnyGraphOutput || v.Uses.Count != 1) return "center-keys: the scores have readers other than one path to a Softmax";
            var reader = v.Uses[0].Node;
            if (!reader.IsDefaultDomain) return $"center-keys: {reader} reads the scores";
            if (reader.OpType == "Softmax")
            {
                int rank = v.Shape?.Rank ?? -1;
                long axis = reader.GetInt("axis", -1);
                return axis == -1 || axis == rank - 1 ? null : "center-keys: the Softmax is not over the keys' (last) axis";
            }
            if (reader.OpType is "Mul" or "Div" && reader.Inputs.Count == 2 && v.Uses[0].InputIndex is var i
                && reader.Inputs[1 - i]?.Const is { ElementCount: 1 } && !(reader.OpType == "Div" && i == 1))
            {
                v = reader.Outputs[0]!;
                continue;
            }
            return $"center-keys: {reader.OpType} between the scores and the Softmax (only scaling by a constant keeps the shift a row constant)";
        }
    }

    /// <summary>c_j = (min_j + max_j)/2 of k's calibrated channel ranges (0 where not finite).</summary>
    public static double[] Centers(double[] min, double[] max)
    {
        var c = new double[min.Length];
        for (int j = 0; j < c.Length; j++) c[j] = double.IsFinite(min[j]) && double.IsFinite(max[j]) ? (min[j] + max[j]) / 2 : 0;
        return c;
    }

    /// <summary>k's bias entries minus <paramref name="centers"/>; a k projection without a bias gets an Add of −c (in its channels).</summary>
    public static bool Apply(Rewriter rewriter, QkBalance.Side k, double[] centers)
    {
        if (QkBalance.Layer(k.CurrentProjection()) is not var (layer, _, _)) return false;
        var correction = new double[layer.OutputChannels];
        for (int c = 0; c < k.Width; c++) correction[k.Offset + c] = centers[c];
        BiasEdit.Subtract(rewriter, layer.Node, correction);
        return true;
    }
}
