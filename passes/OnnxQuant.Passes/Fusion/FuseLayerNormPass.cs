using OnnxQuant.Ir;
using OnnxQuant.Passes.Rewriting;
using static OnnxQuant.Passes.Fusion.FusionChecks;
using static OnnxQuant.Passes.Rewriting.Pattern;

namespace OnnxQuant.Passes.Fusion;

/// <summary>
/// Fuses a decomposed layer normalization over the last axis into one <c>LayerNormalization</c> (opset ≥ 17):
/// <code>
/// m = ReduceMean(x); d = Sub(x, m); v = ReduceMean(Pow(d, 2) | Mul(d, d)); s = Sqrt(Add(v, ε))
/// n = Div(d, s) | Mul(d, Reciprocal(s)) | Mul(d, Div(1, s));  y = Add(Mul(n, γ), β)
/// </code>
/// which is <c>LayerNormalization(x, γ, β, axis=-1, epsilon=ε)</c> by definition (ONNX LayerNormalization-17 with its
/// default stash_type=1 computes in float, as the float decomposition does). Keeping the norm whole matters for
/// quantization: a decomposed LayerNorm quantized op by op loses transformer accuracy (onnxruntime#16219).
/// <para>
/// Anchored at the first ReduceMean. Fires when both reductions are over the last axis with keepdims (axes as
/// attribute before opset 18, as input after), ε is a one-element float constant ≥ 0, every intermediate is read
/// only inside the pattern, in the same graph, and is no graph output, and γ/β are float constants per channel of
/// the last axis. γ and β are optional (γ then becomes ones, which needs x's last dimension known); a Mul or Add
/// after the norm whose constant is not per channel stays outside the fused node. Assumes x's last dimension equals
/// γ's when x's shape is unknown (a last dimension of 1 would make the original broadcast up to γ's size,
/// normalizing single elements: not a real layer norm). Does not fire below opset 17 (counted as
/// <c>skipped-opset</c>): upgrade the opset first.
/// </para>
/// </summary>
public sealed class FuseLayerNormPass : Pass<NoOptions>
{
    /// <summary>LayerNormalization's first version in the default domain.</summary>
    public const long RequiredOpset = 17;

    public override string Name => "fuse-layer-norm";
    public override string Summary => "Fuse decomposed layer normalization (ReduceMean/Sub/Pow/Sqrt/Div) into LayerNormalization (opset >= 17).";

    public override PassResult Run(Model model, NoOptions options, PassContext context) =>
        FusionRun.Apply(this, model, context, [new FuseLayerNorm()], "decomposed LayerNorm(s)");

    /// <summary>The pattern; its near misses are recorded under this name.</summary>
    private sealed class FuseLayerNorm : TreePattern
    {
        protected override ValuePattern Define()
        {
            var x = Any("x");
            var mean = Op("ReduceMean", x, Optional(Constant())).As("mean").Anchor();
            var d = Op("Sub", x, mean).As("d");
            var variance = Op("ReduceMean", OneOf(Op("Pow", d, Scalar(2)), Op("Mul", d, d)), Optional(Constant())).As("variance");
            var std = Op("Sqrt", Op("Add", variance, AnyFloatScalar("epsilon"))).As("std");
            var n = OneOf(Op("Div", d, std), Op("Mul", d, Op("Reciprocal", std)), Op("Mul", d, Op("Div", Scalar(1), std)));
            var gamma = Constant("gamma");
            var beta = Constant("beta");
            // Longest first: the affine Mul and Add join the fused node when their constants are per channel.
            return OneOf(Op("Add", Op("Mul", n, gamma), beta), Op("Mul", n, gamma), Op("Add", n, beta), n);
        }

        protected override string? Check(MatchResult match, RewriteContext context)
        {
            var x = match.Value("x");
            long opset = context.Opset() ?? 1;
            return ReducesLastAxis(match.Node("mean"), opset, x)
                   ?? ReducesLastAxis(match.Node("variance"), opset, match.Value("d"))
                   ?? ReadEpsilon(match.Constant("epsilon"), out _)
                   ?? ConstantRanksFit(match, x, atLeast: 1)
                   ?? Parameters(match, out _, out _);
        }

        public override string? Unsupported(RewriteContext context) => context.RequireOpset(RequiredOpset, "LayerNormalization");

        /// <summary>γ (ones when absent) and β as 1-D tensors of the channel count, or why they cannot be.</summary>
        private static string? Parameters(MatchResult match, out Tensor? scale, out Tensor? bias)
        {
            var x = match.Value("x");
            scale = bias = null;
            if (match.Values.TryGetValue("gamma", out var gamma) && ChannelParameters.TryVector(gamma, x, out scale) is { } g) return g;
            if (match.Values.TryGetValue("beta", out var beta) && ChannelParameters.TryVector(beta, x, out bias) is { } b) return b;
            if (scale is null)
            {
                if ((ChannelParameters.LastDimension(x) ?? bias?.ElementCount) is not long channels)
                    return "there is no scale and the input's last dimension is unknown";
                scale = ChannelParameters.Filled(1f, channels);
            }
            return null;
        }

        public override void Rewrite(Rewriter rewriter, MatchResult match)
        {
            Parameters(match, out var scale, out var bias);
            ReadEpsilon(match.Constant("epsilon"), out double epsilon);
            var inputs = new List<Value?> { match.Value("x"), ChannelParameters.ConstantFor(rewriter, match.Values.GetValueOrDefault("gamma"), scale!, "ln_scale") };
            if (bias is not null) inputs.Add(ChannelParameters.ConstantFor(rewriter, match.Values.GetValueOrDefault("beta"), bias, "ln_bias"));
            var layerNorm = rewriter.InsertBefore(match.Root, new Node("LayerNormalization", inputs, 1, "",
                [Attribute.Int("axis", -1), Attribute.Float("epsilon", (float)epsilon)], name: match.Root.Name));
            rewriter.Replace(match, layerNorm.Output);
        }
    }
}
