using OnnxQuant.Ir;
using OnnxQuant.Passes.LinearLayers;
using OnnxQuant.Passes.Rewriting;

namespace OnnxQuant.Passes.Equivalence;

/// <summary>
/// Folds the division of an activation by s (per channel, last axis) into what produces it, for
/// <see cref="SmoothQuantPass"/>: LayerNormalization's γ and β, RMS norm's γ (RMSNormalization,
/// SimplifiedLayerNormalization), or the output columns and bias of the linear layer before it (MatMul or Gemm,
/// possibly followed by an Add of a constant bias). With <c>throughMul</c> (AWQ) also through an elementwise Mul of
/// two tensors (SwiGLU's silu(gate)·up): (a·b)/s = a·(b/s), so one factor's producing linear layer takes 1/s.
/// A Conv's input (channels on axis 1, <see cref="TryAbsorbConvInput"/>) is absorbed by the previous Conv's output
/// channels and bias, through Relu/LeakyRelu/MaxPool/Identity (f(y/s) = f(y)/s for s &gt; 0), by a
/// BatchNormalization's scale and bias, or by a Mul by a per-channel constant.
/// Every edit makes new constants; shared ones stay as they are.
/// </summary>
internal static class SmoothQuantAbsorber
{
    /// <summary>How 1/s was folded ("layer-norm", "rms-norm", "linear"), or null when the producer cannot absorb it.</summary>
    public static string? TryAbsorb(Rewriter rewriter, Value activation, float[] inverse, bool throughMul = false)
    {
        if (activation.Producer is not { IsDefaultDomain: true } producer || producer.Graph != rewriter.Graph) return null;
        int k = inverse.Length;
        switch (producer.OpType)
        {
            case "LayerNormalization" when producer.Outputs[0] == activation && NormalizesLastAxis(producer, activation, k):
                if (!IsChannelVector(producer.Input(1), k) || producer.Input(2) is { } b && !IsChannelVector(b, k)) return null;
                ScaleInput(rewriter, producer, 1, inverse);
                if (producer.Input(2) is not null) ScaleInput(rewriter, producer, 2, inverse);
                return "layer-norm";
            case "RMSNormalization" or "SimplifiedLayerNormalization" when producer.Outputs[0] == activation && NormalizesLastAxis(producer, activation, k):
                if (!IsChannelVector(producer.Input(1), k)) return null;
                ScaleInput(rewriter, producer, 1, inverse);
                return "rms-norm";
            case "MatMul" or "Gemm":
                return TryAbsorbInLinear(rewriter, producer, null, inverse) ? "linear" : null;
            case "Add":
                // x·B + c written as MatMul then Add: scale both.
                for (int i = 0; i < 2; i++)
                    if (producer.Input(i) is { Producer: { OpType: "MatMul" } matmul } h && h.Uses.Count == 1 && !h.IsAnyGraphOutput
                        && producer.Input(1 - i) is { } c && IsChannelVector(c, k) && matmul.Graph == rewriter.Graph)
                        return TryAbsorbInLinear(rewriter, matmul, (producer, 1 - i), inverse) ? "linear" : null;
                return null;
            case "Mul" when throughMul && producer.Outputs[0] == activation:
                // One factor written by a linear layer that nothing else reads takes 1/s in its output columns.
                for (int i = 0; i < 2; i++)
                    if (producer.Input(i) is { IsConstant: false, IsAnyGraphOutput: false } factor && factor.Uses.Count == 1
                        && factor.Producer is { IsDefaultDomain: true, OpType: "MatMul" or "Gemm" or "Add" } p && p.Graph == rewriter.Graph
                        && TryAbsorb(rewriter, factor, inverse) == "linear")
                        return "through-mul";
                return null;
            default:
                return null;
        }
    }

    /// <summary>
    /// Folds 1/s per channel (axis 1 of a rank-<paramref name="rank"/> NC… tensor) into what produces the Conv input
    /// <paramref name="activation"/>: "conv", "batch-norm" or "affine" (with "-through-relu" etc. when it passed such
    /// ops), or null when nothing can take it.
    /// </summary>
    public static string? TryAbsorbConvInput(Rewriter rewriter, Value activation, float[] inverse, int rank)
    {
        if (activation.Producer is not { IsDefaultDomain: true } producer || producer.Graph != rewriter.Graph) return null;
        if (producer.Outputs[0] != activation || producer.Outputs.Skip(1).Any(o => o is not null && (o.Uses.Count > 0 || o.IsAnyGraphOutput)))
            return null;
        int k = inverse.Length;
        switch (producer.OpType)
        {
            case "Conv":
                return TryAbsorbInLinear(rewriter, producer, null, inverse) ? "conv" : null;
            case "BatchNormalization":
                if (!IsChannelVector(producer.Input(1), k) || !IsChannelVector(producer.Input(2), k)) return null;
                ScaleInput(rewriter, producer, 1, inverse);
                ScaleInput(rewriter, producer, 2, inverse);
                return "batch-norm";
            case "Relu" or "LeakyRelu" or "MaxPool" or "Identity":
                // Positively homogeneous per channel: f(y)/s = f(y/s); the tensor before it must have no other reader.
                if (producer.Input(0) is not { IsConstant: false, IsAnyGraphOutput: false } inner || inner.Uses.Count != 1) return null;
                return TryAbsorbConvInput(rewriter, inner, inverse, rank) is { } how ? $"{how}-through-{producer.OpType.ToLowerInvariant()}" : null;
            case "Mul":
                for (int i = 0; i < 2; i++)
                    if (IsAxisOneVector(producer.Input(i), k, rank) && producer.Input(1 - i) is { IsConstant: false })
                    {
                        ScaleInput(rewriter, producer, i, inverse);
                        return "affine";
                    }
                return null;
            default:
                return null;
        }
    }

    /// <summary>A floating-point constant with one value per channel of axis 1 of a rank-<paramref name="rank"/> tensor ([C, 1, 1] or [1, C, 1, 1]).</summary>
    private static bool IsAxisOneVector(Value? value, int k, int rank)
    {
        if (value?.Const is not { } t || t.ElementType is not (DataType.Float or DataType.Float16 or DataType.BFloat16 or DataType.Double)) return false;
        int at = t.Rank - (rank - 1);
        if (at < 0 || t.Dims[at] != k) return false;
        for (int i = 0; i < t.Rank; i++)
            if (i != at && t.Dims[i] != 1) return false;
        return true;
    }

    /// <summary>B ← B·diag(1/s) and the bias (Gemm's C or the Add's constant) ← bias/s; false when the layer cannot take it.</summary>
    private static bool TryAbsorbInLinear(Rewriter rewriter, Node node, (Node Add, int Input)? add, float[] inverse)
    {
        int k = inverse.Length;
        // A Conv's output channels scale in any grouping (row o of its weight is output channel o).
        if (LinearLayer.TryRead(node, out var layer) is not null || layer!.Groups != 1 && node.OpType != "Conv" || layer.OutputChannels != k) return false;
        if (LinearLayer.SharingConflict([layer]) is not null) return false;
        if (layer.Bias is { } bias && !IsChannelVector(bias, k)) return false;
        var rows = layer.ReadRows();
        for (int n = 0; n < k; n++)
            for (int j = 0; j < layer.K; j++)
                rows[(long)n * layer.K + j] *= inverse[n];
        LinearLayer.ReplaceWeight(rewriter, [layer], layer.WeightFromRows(rows));
        if (layer.Bias is not null) ScaleInput(rewriter, node, 2, inverse);
        if (add is { } a) ScaleInput(rewriter, a.Add, a.Input, inverse);
        return true;
    }

    /// <summary>Makes input <paramref name="index"/> of <paramref name="node"/> a new constant: the old one times <paramref name="factor"/> per channel.</summary>
    private static void ScaleInput(Rewriter rewriter, Node node, int index, float[] factor)
    {
        var old = node.Input(index)!;
        var t = old.Const!;
        var values = t.ToFloatArray();
        for (int i = 0; i < values.Length; i++) values[i] *= factor[i];
        rewriter.ReplaceInput(node, index, rewriter.AddWeight(TensorConversions.FromFloats(t.ElementType, values, t.Dims.ToArray()), old.Name));
    }

    /// <summary>A floating-point constant holding one value per channel along its last axis (every other dim 1).</summary>
    private static bool IsChannelVector(Value? value, int k) =>
        value?.Const is { } t && t.ElementType is DataType.Float or DataType.Float16 or DataType.BFloat16 or DataType.Double
        && t.Rank >= 1 && t.Dims[^1] == k && t.Dims.Take(t.Rank - 1).All(d => d == 1);

    /// <summary>The norm's axis is the last one of <paramref name="activation"/> (its rank known, or axis −1).</summary>
    private static bool NormalizesLastAxis(Node norm, Value activation, int k)
    {
        long axis = norm.GetInt("axis", -1);
        if (axis == -1) return true;
        return activation.Shape is { } s && axis == s.Rank - 1;
    }
}
