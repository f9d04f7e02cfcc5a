using OnnxQuant.Ir;
using OnnxQuant.Passes.Rewriting;
using static OnnxQuant.Passes.Fusion.FusionChecks;
using static OnnxQuant.Passes.Rewriting.Pattern;

namespace OnnxQuant.Passes.Fusion;

/// <summary>
/// Fuses a decomposed RMS normalization over the last axis (Zhang and Sennrich 2019, as in Llama):
/// <code>
/// s = Sqrt(Add(ReduceMean(Pow(x, 2) | Mul(x, x)), ε))
/// n = Div(x, s) | Mul(x, Reciprocal(s)) | Mul(x, Div(1, s));  y = Mul(n, γ)
/// </code>
/// which is <c>x / √(mean(x²) + ε) · γ</c>: <c>RMSNormalization(x, γ, axis=-1, epsilon=ε)</c> from opset 23, else
/// ONNX Runtime's <c>SimplifiedLayerNormalization</c> (same attributes and formula). ORT registers that contrib op in
/// the default ONNX domain, version 1 (like its old LayerNormalization), not in com.microsoft, so it is available at
/// every ai.onnx opset: emitting it under com.microsoft makes ORT reject the model.
/// <para>
/// Anchored at the ReduceMean. Fires when the reduction is over the last axis with keepdims, ε is a one-element
/// float constant ≥ 0, every intermediate is read only inside the pattern, in the same graph, and is no graph
/// output, and γ (optional; ones when absent, which needs x's last dimension known) is a float constant per channel
/// of the last axis. Does not fire when x is itself centered (x = Sub(a, ReduceMean(a))): that is the tail of a
/// LayerNorm, for fuse-layer-norm.
/// </para>
/// </summary>
public sealed class FuseRmsNormPass : Pass<NoOptions>
{
    /// <summary>RMSNormalization's first version in the default domain.</summary>
    public const long StandardOpset = 23;

    public override string Name => "fuse-rms-norm";
    public override string Summary => "Fuse decomposed RMS normalization into RMSNormalization (opset >= 23) or ORT's SimplifiedLayerNormalization.";

    public override PassResult Run(Model model, NoOptions options, PassContext context) =>
        FusionRun.Apply(this, model, context, [new FuseRmsNorm()], "decomposed RMS norm(s)");

    private sealed class FuseRmsNorm : TreePattern
    {
        protected override ValuePattern Define()
        {
            var x = Any("x");
            var meanSquare = Op("ReduceMean", OneOf(Op("Pow", x, Scalar(2)), Op("Mul", x, x)), Optional(Constant())).As("mean").Anchor();
            var rms = Op("Sqrt", Op("Add", meanSquare, AnyFloatScalar("epsilon"))).As("rms");
            var n = OneOf(Op("Div", x, rms), Op("Mul", x, Op("Reciprocal", rms)), Op("Mul", x, Op("Div", Scalar(1), rms)));
            return OneOf(Op("Mul", n, Constant("gamma")), n);
        }

        protected override string? Check(MatchResult match, RewriteContext context)
        {
            var x = match.Value("x");
            if (x.Producer is { OpType: "Sub" } sub && sub.Input(1)?.Producer is { OpType: "ReduceMean" } m && ReferenceEquals(m.Input(0), sub.Input(0)))
                return "the input is centered (x − mean(x)): the tail of a LayerNorm, which fuse-layer-norm fuses";
            return ReducesLastAxis(match.Node("mean"), context.Opset() ?? 1, x)
                   ?? ReadEpsilon(match.Constant("epsilon"), out _)
                   ?? ConstantRanksFit(match, x, atLeast: 1)
                   ?? Scale(match, out _);
        }

        private static string? Scale(MatchResult match, out Tensor? scale)
        {
            var x = match.Value("x");
            scale = null;
            if (match.Values.TryGetValue("gamma", out var gamma)) return ChannelParameters.TryVector(gamma, x, out scale);
            if (ChannelParameters.LastDimension(x) is not long channels) return "there is no scale and the input's last dimension is unknown";
            scale = ChannelParameters.Filled(1f, channels);
            return null;
        }

        public override void Rewrite(Rewriter rewriter, MatchResult match) =>
            throw new InvalidOperationException("fuse-rms-norm picks its op by the opset: call Rewrite with the context.");

        public override void Rewrite(Rewriter rewriter, MatchResult match, RewriteContext context)
        {
            Scale(match, out var scale);
            ReadEpsilon(match.Constant("epsilon"), out double epsilon);
            var scaleValue = ChannelParameters.ConstantFor(rewriter, match.Values.GetValueOrDefault("gamma"), scale!, "rms_scale");
            string op = context.Opset() >= StandardOpset ? "RMSNormalization" : "SimplifiedLayerNormalization";
            var fused = rewriter.InsertBefore(match.Root, new Node(op, [match.Value("x"), scaleValue], 1, "",
                [Attribute.Int("axis", -1), Attribute.Float("epsilon", (float)epsilon)], name: match.Root.Name));
            rewriter.Replace(match, fused.Output);
        }
    }
}
