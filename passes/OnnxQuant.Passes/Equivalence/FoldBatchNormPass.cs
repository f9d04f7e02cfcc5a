using OnnxQuant.Ir;
using OnnxQuant.Passes.Fusion;
using OnnxQuant.Passes.Rewriting;
using static OnnxQuant.Passes.Rewriting.Pattern;

namespace OnnxQuant.Passes.Equivalence;

/// <summary>
/// Folds an inference BatchNormalization into the Conv (or ConvTranspose) before it. With
/// <c>f = scale / √(var + ε)</c> per output channel,
/// <code>
/// BN(Conv(x, W, b)) = Conv(x, W·f, (b − mean)·f + B)     (W scaled along its output-channel axis)
/// </code>
/// exactly in real arithmetic; the new weights are computed in double and rounded once to float.
/// <para>
/// Matched from the BatchNormalization. Fires when the convolution's output is read only by the BN (and is no graph
/// output), W, the optional bias and the four BN parameters are float constants of matching channel count, the BN
/// is in inference mode (no training_mode=1, is_test=0 or spatial=0) and its extra outputs are unused. W and b get
/// new constants: a weight shared with another convolution is never changed in place; the old ones are dropped
/// once nothing reads them.
/// </para>
/// </summary>
public sealed class FoldBatchNormPass : Pass<NoOptions>
{
    public override string Name => "fold-batch-norm";
    public override string Summary => "Fold inference BatchNormalization into the preceding Conv/ConvTranspose weights and bias.";

    public override PassResult Run(Model model, NoOptions options, PassContext context) =>
        FusionRun.Apply(this, model, context, [new FoldBatchNorm()], "BatchNormalization(s)", counter: "folded");

    /// <summary>The folded weight's factor and the new bias, per output channel.</summary>
    private sealed record Folding(double[] Factor, double[] Shift);

    private sealed class FoldBatchNorm : TreePattern
    {
        protected override ValuePattern Define()
        {
            var x = Any("x");
            var conv = OneOf(
                Op("Conv", x, Constant("w"), Optional(Constant("b"))).As("conv"),
                Op("ConvTranspose", x, Constant("w"), Optional(Constant("b"))).As("conv"));
            return Op("BatchNormalization", conv, Constant("scale"), Constant("shift"), Constant("mean"), Constant("variance"))
                .Where(bn => bn.GetInt("training_mode", 0) == 0 && bn.GetInt("is_test", 1) != 0, "it is in training mode")
                .Where(bn => bn.GetInt("spatial", 1) == 1, "it is not spatial (spatial=0)")
                .Where(bn => bn.Outputs.Skip(1).All(o => o is null || o.Uses.Count == 0 && !o.IsAnyGraphOutput), "its running statistic outputs are used");
        }

        protected override string? Check(MatchResult match, RewriteContext context) => Fold(match, out _);

        /// <summary>The folding of the match, or why it cannot be folded.</summary>
        private static string? Fold(MatchResult match, out Folding? folding)
        {
            folding = null;
            var conv = match.Node("conv");
            if (match.Constant("w") is not { ElementType: DataType.Float, Rank: >= 3 } weight) return "the convolution's weight is not a float constant";
            int group = (int)conv.GetInt("group", 1);
            long channels = conv.OpType == "Conv" ? weight.Dims[0] : weight.Dims[1] * group;
            var parameters = new double[4][];
            string[] names = ["scale", "shift", "mean", "variance"];
            for (int i = 0; i < 4; i++)
            {
                if (match.Constant(names[i]) is not { ElementType: DataType.Float, Rank: 1 } t || t.ElementCount != channels)
                    return $"its {names[i]} is not a float constant of {channels} channels";
                parameters[i] = t.AsSpan<float>().ToArray().Select(v => (double)v).ToArray();
            }
            Tensor? bias = null;
            if (match.Values.ContainsKey("b"))
            {
                if (match.Constant("b") is not { ElementType: DataType.Float, Rank: 1 } bt || bt.ElementCount != channels)
                    return $"the convolution's bias is not a float constant of {channels} channels";
                bias = bt;
            }
            double eps = match.Root.GetFloat("epsilon", 1e-5f);
            var (scale, shift, mean, variance) = (parameters[0], parameters[1], parameters[2], parameters[3]);
            var factor = new double[channels];
            var newShift = new double[channels];
            for (int c = 0; c < channels; c++)
            {
                if (!(variance[c] + eps > 0)) return "a channel's variance + epsilon is not positive";
                factor[c] = scale[c] / Math.Sqrt(variance[c] + eps);
                double b0 = bias is null ? 0 : bias.AsSpan<float>()[c];
                newShift[c] = (b0 - mean[c]) * factor[c] + shift[c];
            }
            folding = new Folding(factor, newShift);
            return null;
        }

        public override void Rewrite(Rewriter rewriter, MatchResult match)
        {
            Fold(match, out var folding);
            var conv = match.Node("conv");
            var weight = match.Constant("w");
            var w = weight.AsSpan<float>();
            var scaled = new float[w.Length];
            var dims = weight.Dims;
            long spatial = 1;
            for (int i = 2; i < dims.Count; i++) spatial *= dims[i];
            if (conv.OpType == "Conv")
            {
                // W[o, c, k…]: output channel o is the first axis.
                long perOutput = dims[1] * spatial;
                for (long i = 0; i < w.Length; i++) scaled[i] = (float)(w[(int)i] * folding!.Factor[i / perOutput]);
            }
            else
            {
                // ConvTranspose W[c, j, k…]: input channel c of group g = c / (C/group) feeds output channel g·(M/group) + j.
                int group = (int)conv.GetInt("group", 1);
                long inPerGroup = dims[0] / group, outPerGroup = dims[1];
                for (long i = 0; i < w.Length; i++)
                {
                    long c = i / (outPerGroup * spatial), j = i / spatial % outPerGroup;
                    scaled[i] = (float)(w[(int)i] * folding!.Factor[c / inPerGroup * outPerGroup + j]);
                }
            }
            var oldWeight = match.Value("w");
            var oldBias = match.Values.GetValueOrDefault("b");
            rewriter.SetInput(conv, 1, rewriter.AddWeight(Tensor.FromFloats(scaled, dims.ToArray()), "folded_weight"));
            var bias = rewriter.AddWeight(Tensor.FromFloats(folding!.Shift.Select(v => (float)v).ToArray(), folding.Shift.Length), "folded_bias");
            rewriter.SetInput(conv, 2, bias);
            rewriter.RemoveConstantIfUnused(oldWeight);
            if (oldBias is not null) rewriter.RemoveConstantIfUnused(oldBias);
            rewriter.Replace(match, conv.Output);
        }
    }
}
