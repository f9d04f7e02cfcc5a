using OnnxQuant.Ir;
using OnnxQuant.Passes.Equivalence.Rotation;
using OnnxQuant.Passes.LinearLayers;
using OnnxQuant.Passes.Numerics;
using OnnxQuant.Passes.Rewriting;

namespace OnnxQuant.Passes.Quantization.Repq;

/// <summary>
/// Per-head rotation of attention's operands (repq-vit's <c>head-rotation</c>; QuaRot/SpinQuant's per-head R2
/// without learning, ALGORITHMS.md §3.3), folded into the weights, no online op. With Q = diag(s)·H_d/√d a seeded
/// randomized Hadamard of the head width d (orthogonal):
/// <list type="bullet">
/// <item>q and k: every head's q and k columns ← ·Q (the projections' weight columns and bias entries); then
/// (q·Q)·(k·Q)ᵀ = q·kᵀ, so the scores are unchanged.</item>
/// <item>V and the attention output: V ← V·(I ⊗ Q) and the out-projection's rows ← (I ⊗ Q)ᵀ·B, as the rotate pass
/// does (<see cref="AttentionValueHeads"/>): P·V·Q·Qᵀ·B = P·V·B.</item>
/// </list>
/// Rotated, a head's channels share its energy, so a per-tensor 4-bit quantizer of q, k, V or the attention output no
/// longer spends its range on a few large channels. Exact up to float rounding of the new weights.
/// Does not fire on a pair or value path the recognizers refuse (their reasons), or when the head width has no Hadamard
/// matrix (<see cref="Hadamard.SupportedOrdersText"/>).
/// </summary>
internal static class HeadRotation
{
    /// <summary>Rotates q and k of every pair; returns how many pairs were rotated.</summary>
    public static int RotateScores(Rewriter rewriter, IReadOnlyList<QkBalance.Pair> pairs, int seed, Action<string> miss)
    {
        int rotated = 0;
        foreach (var pair in pairs)
        {
            if (QkBalance.HeadSplit(pair.Q) is not var (_, d) || QkBalance.HeadSplit(pair.K) is not (_, var dk) || d != dk)
            {
                miss("head-rotation: the head width of q or k is not known");
                continue;
            }
            if (!Hadamard.IsSupportedOrder(d))
            {
                miss($"head-rotation: head width {d} has no Hadamard matrix");
                continue;
            }
            var q = RandomizedHadamard.Create(d, seed);
            if (QkBalance.TransformColumns(rewriter, pair.Q, q.ApplyToRows) && QkBalance.TransformColumns(rewriter, pair.K, q.ApplyToRows)) rotated++;
            else miss("head-rotation: the q or k projection changed form");
        }
        return rotated;
    }

    /// <summary>Rotates V and the out-projection's input of every attention <see cref="AttentionValueHeads"/> recognizes.</summary>
    public static int RotateValues(Rewriter rewriter, Model model, int seed, Action<string> miss)
    {
        var misses = new List<string>();
        var attentions = AttentionValueHeads.Find(model.Graph, (int)(model.GetOpset() ?? 1), misses);
        foreach (var why in misses) miss($"head-rotation: {why}");
        int rotated = 0;
        foreach (var attention in attentions)
        {
            int d = attention.HeadDim;
            if (!Hadamard.IsSupportedOrder(d))
            {
                miss($"head-rotation: head width {d} has no Hadamard matrix");
                continue;
            }
            var q = RandomizedHadamard.Create(d, seed);
            if (LinearLayer.TryRead(attention.ValueProjection, out var value) is not null || LinearLayer.TryRead(attention.OutProjection, out var output) is not null)
            {
                miss("head-rotation: the value or out-projection is no linear layer");
                continue;
            }
            // V's columns: each input's weights for them (the rows of the linear-layer view, gathered per input).
            var rows = value!.ReadRows();
            int k = rows.Length / value.OutputChannels;
            var v = new double[attention.ColumnCount];
            for (int i = 0; i < k; i++)
            {
                for (int c = 0; c < v.Length; c++) v[c] = rows[(long)(attention.ColumnOffset + c) * k + i];
                q.ApplyToRows(v);
                for (int c = 0; c < v.Length; c++) rows[(long)(attention.ColumnOffset + c) * k + i] = (float)v[c];
            }
            Write(rewriter, value, rows);
            if (value.Bias is { Const: { } gemmBias } && value.Node.OpType == "Gemm")
            {
                var b = gemmBias.ToFloatArray().Select(x => (double)x).ToArray();
                if (b.Length == value.N)
                {
                    q.ApplyToRows(b.AsSpan(attention.ColumnOffset, attention.ColumnCount));
                    rewriter.ReplaceInput(value.Node, 2, rewriter.AddConstant(TensorConversions.FromFloats(gemmBias.ElementType, b.Select(x => (float)x).ToArray(), gemmBias.Dims.ToArray()), value.Bias.Name));
                }
            }
            foreach (var (node, input, offset, count) in attention.ConstantTerms)
            {
                var old = node.Inputs[input]!;
                var t = old.Const!;
                int width = (int)t.Dims[^1];
                int n = count ?? width - offset;
                var values = t.ToFloatArray().Select(x => (double)x).ToArray();
                for (int start = 0; start < values.Length; start += width) q.ApplyToRows(values.AsSpan(start + offset, n));
                rewriter.ReplaceInput(node, input, rewriter.AddConstant(TensorConversions.FromFloats(t.ElementType, values.Select(x => (float)x).ToArray(), t.Dims.ToArray()), old.Name));
            }
            // The out-projection's inputs: each output's row of weights, per block of d.
            var outRows = output!.ReadRows();
            int ko = outRows.Length / output.OutputChannels;
            var row = new double[ko];
            for (int o = 0; o < output.OutputChannels; o++)
            {
                for (int i = 0; i < ko; i++) row[i] = outRows[(long)o * ko + i];
                q.ApplyToRows(row);
                for (int i = 0; i < ko; i++) outRows[(long)o * ko + i] = (float)row[i];
            }
            Write(rewriter, output, outRows);
            rotated++;
        }
        return rotated;
    }

    private static void Write(Rewriter rewriter, LinearLayer layer, float[] rows)
    {
        // A weight shared with other readers gets a copy: only this layer changes.
        if (LinearLayer.SharingConflict([layer]) is null) LinearLayer.ReplaceWeight(rewriter, [layer], layer.WeightFromRows(rows));
        else rewriter.ReplaceInput(layer.Node, 1, rewriter.AddConstant(layer.WeightFromRows(rows), layer.Weight.Name));
    }
}
