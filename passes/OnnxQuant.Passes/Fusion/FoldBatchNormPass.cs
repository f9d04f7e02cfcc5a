using OnnxQuant.Ir;
using static OnnxQuant.Passes.Fusion.FusionPatterns;

namespace OnnxQuant.Passes.Fusion;

/// <summary>
/// Folds an inference BatchNormalization into the Conv (or ConvTranspose) before it. With
/// <c>f = scale / √(var + ε)</c> per output channel,
/// <code>
/// BN(Conv(x, W, b)) = Conv(x, W·f, (b − mean)·f + B)     (W scaled along its output-channel axis)
/// </code>
/// exactly in real arithmetic; the new weights are computed in double and rounded once to float.
/// <para>
/// Fires when the convolution's output is read only by the BN (and is no graph output), W, the optional bias and the
/// four BN parameters are float constants of matching channel count, the BN is in inference mode (no
/// training_mode=1, is_test=0 or spatial=0) and its extra outputs are unused. W and b get new constants: a weight
/// shared with another convolution is never changed in place; the old ones are dropped once nothing reads them.
/// </para>
/// </summary>
public sealed class FoldBatchNormPass : Pass<NoOptions>
{
    public override string Name => "fold-batch-norm";
    public override string Summary => "Fold inference BatchNormalization into the preceding Conv/ConvTranspose weights and bias.";

    private sealed record Match(Node Conv, Node BatchNorm, Tensor Weight, Tensor? Bias, double[] Factor, double[] Shift, int Group);

    public override PassResult Run(Model model, NoOptions options, PassContext context) =>
        FusionDriver.Run<Match>(this, model, context, ["BatchNormalization"], TryMatch, Rewrite, counter: "folded", notRewriting: "not folding");

    /// <summary>Null on success; "" when the BN does not follow a convolution; else why it does not fold.</summary>
    private static string? TryMatch(Node bn, long opset, out Match? match)
    {
        match = null;
        if (bn.Inputs.Count != 5 || bn.Inputs[0] is not { Producer: { IsDefaultDomain: true } conv } convOut
            || conv.OpType is not ("Conv" or "ConvTranspose"))
            return "";
        if (SoleUser(convOut) != bn) return $"the convolution output {convOut} has other consumers";
        if (bn.GetInt("training_mode", 0) != 0 || bn.GetInt("is_test", 1) == 0) return "it is in training mode";
        if (bn.GetInt("spatial", 1) != 1) return "it is not spatial (spatial=0)";
        for (int i = 1; i < bn.Outputs.Count; i++)
            if (bn.Outputs[i] is { } extra && (extra.Uses.Count > 0 || extra.IsAnyGraphOutput))
                return $"its running statistic output {extra} is used";
        if (conv.Input(1) is not { } w || ConstantNode.ConstantOf(w) is not { ElementType: DataType.Float, Rank: >= 3 } weight)
            return $"{conv}'s weight is not a float constant";
        int group = (int)conv.GetInt("group", 1);
        long channels = conv.OpType == "Conv" ? weight.Dims[0] : weight.Dims[1] * group;

        var parameters = new double[4][];
        for (int i = 0; i < 4; i++)
        {
            if (bn.Inputs[i + 1] is not { } p || ConstantNode.ConstantOf(p) is not { ElementType: DataType.Float, Rank: 1 } t || t.ElementCount != channels)
                return $"its input {bn.Inputs[i + 1]} is not a float constant of {channels} channels";
            parameters[i] = t.AsSpan<float>().ToArray().Select(v => (double)v).ToArray();
        }
        Tensor? bias = null;
        if (conv.Input(2) is { } b)
        {
            if (ConstantNode.ConstantOf(b) is not { ElementType: DataType.Float, Rank: 1 } bt || bt.ElementCount != channels)
                return $"{conv}'s bias is not a float constant of {channels} channels";
            bias = bt;
        }
        double eps = bn.GetFloat("epsilon", 1e-5f);
        var (scale, shift, mean, variance) = (parameters[0], parameters[1], parameters[2], parameters[3]);
        var factor = new double[channels];
        var newShift = new double[channels];
        for (int c = 0; c < channels; c++)
        {
            if (!(variance[c] + eps > 0)) return $"channel {c} has variance + epsilon {variance[c] + eps}, not positive";
            factor[c] = scale[c] / Math.Sqrt(variance[c] + eps);
            double b0 = bias is null ? 0 : bias.AsSpan<float>()[c];
            newShift[c] = (b0 - mean[c]) * factor[c] + shift[c];
        }
        match = new Match(conv, bn, weight, bias, factor, newShift, group);
        return null;
    }

    private static void Rewrite(Match m, long opset)
    {
        var graph = m.Conv.Graph!;
        var w = m.Weight.AsSpan<float>();
        var scaled = new float[w.Length];
        var dims = m.Weight.Dims;
        long spatial = 1;
        for (int i = 2; i < dims.Count; i++) spatial *= dims[i];
        if (m.Conv.OpType == "Conv")
        {
            // W[o, c, k…]: output channel o is the first axis.
            long perOutput = dims[1] * spatial;
            for (long i = 0; i < w.Length; i++) scaled[i] = (float)(w[(int)i] * m.Factor[i / perOutput]);
        }
        else
        {
            // ConvTranspose W[c, j, k…]: input channel c of group g = c / (C/group) feeds output channel g·(M/group) + j.
            long inPerGroup = dims[0] / m.Group, outPerGroup = dims[1];
            for (long i = 0; i < w.Length; i++)
            {
                long c = i / (outPerGroup * spatial), j = i / spatial % outPerGroup;
                scaled[i] = (float)(w[(int)i] * m.Factor[c / inPerGroup * outPerGroup + j]);
            }
        }
        var oldWeight = m.Conv.Inputs[1]!;
        var oldBias = m.Conv.Input(2);
        m.Conv.ReplaceInput(1, graph.AddConstant(Tensor.FromFloats(scaled, dims.ToArray()), "folded_weight"));
        var bias = graph.AddConstant(Tensor.FromFloats(m.Shift.Select(v => (float)v).ToArray(), m.Shift.Length), "folded_bias");
        if (m.Conv.Inputs.Count > 2) m.Conv.ReplaceInput(2, bias);
        else m.Conv.AppendInput(bias);
        RemoveConstantIfDead(oldWeight);
        if (oldBias is not null) RemoveConstantIfDead(oldBias);

        m.BatchNorm.Outputs[0]!.ReplaceAllUsesWith(m.Conv.Output);
        RemoveMatched([m.BatchNorm]);
    }
}
