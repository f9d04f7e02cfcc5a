using OnnxQuant.Ir;
using OnnxQuant.Passes.Rewriting;
using static OnnxQuant.Passes.Fusion.FusionChecks;
using static OnnxQuant.Passes.Rewriting.Pattern;

namespace OnnxQuant.Passes.Fusion;

/// <summary>
/// Fuses the two decomposed GELU forms into one <c>Gelu</c> (opset ≥ 20; Hendrycks and Gimpel 2016):
/// <code>
/// erf:  y = x · 0.5 · (1 + Erf(x / √2))                         → Gelu(x)
/// tanh: y = x · 0.5 · (1 + Tanh(√(2/π) · (x + 0.044715 · x³)))  → Gelu(x, approximate="tanh")
/// </code>
/// x/√2 may be Div(x, √2) or Mul(x, 1/√2); x³ may be Pow(x, 3), Mul(x, Mul(x, x)) or Mul(Mul(x, x), x); the
/// outer product of x, 0.5 (or a division by 2) and the (1 + …) term may be associated in any order. Anchored at the
/// Erf or Tanh. Constants must be one-element constants within 1e-6 relative of their exact values (√2 and √(2/π)
/// float) of rank at most x's, and every intermediate must be read only inside the pattern, in the same graph, and
/// be no graph output. Does not fire below opset 20 (counted as <c>skipped-opset</c>).
/// </summary>
public sealed class FuseGeluPass : Pass<NoOptions>
{
    /// <summary>Gelu's first version in the default domain.</summary>
    public const long RequiredOpset = 20;

    public override string Name => "fuse-gelu";
    public override string Summary => "Fuse decomposed GELU (erf and tanh forms) into Gelu (opset >= 20).";

    public override PassResult Run(Model model, NoOptions options, PassContext context) =>
        FusionRun.Apply(this, model, context, [new FuseGeluErf(), new FuseGeluTanh()], "decomposed GELU(s)");

    /// <summary>What the two forms share: the product x · ½ · term, the checks and the rewrite.</summary>
    private abstract class GeluForm : TreePattern
    {
        protected abstract bool Tanh { get; }

        /// <summary>x · ½ · <paramref name="term"/> in each association exporters write, with ½ as Mul by 0.5 or Div by 2.</summary>
        protected static ValuePattern TimesHalfX(ValuePattern x, ValuePattern term) =>
            OneOf(Half(Op("Mul", term, x)), Op("Mul", Op("Mul", term, Scalar(0.5)), x), Op("Mul", term, Half(x)));

        private static OneOfPattern Half(ValuePattern v) => OneOf(Op("Mul", v, Scalar(0.5)), Op("Div", v, Scalar(2)));

        protected override string? Check(MatchResult match, RewriteContext context) => ConstantRanksFit(match, match.Value("x"));

        public override string? Unsupported(RewriteContext context) => context.RequireOpset(RequiredOpset, "Gelu");

        public override void Rewrite(Rewriter rewriter, MatchResult match)
        {
            var gelu = rewriter.InsertBefore(match.Root, new Node("Gelu", [match.Value("x")], 1, "",
                Tanh ? [Attribute.String("approximate", "tanh")] : null, name: match.Root.Name));
            rewriter.Replace(match, gelu.Output);
        }
    }

    private sealed class FuseGeluErf : GeluForm
    {
        protected override bool Tanh => false;

        protected override ValuePattern Define()
        {
            var x = Any("x");
            var erf = Op("Erf", OneOf(Op("Div", x, FloatScalar(Math.Sqrt(2))), Op("Mul", x, FloatScalar(Math.Sqrt(0.5))))).Anchor();
            return TimesHalfX(x, Op("Add", erf, Scalar(1)));
        }
    }

    private sealed class FuseGeluTanh : GeluForm
    {
        protected override bool Tanh => true;

        protected override ValuePattern Define()
        {
            var x = Any("x");
            var cube = OneOf(Op("Pow", x, Scalar(3)), Op("Mul", x, Op("Mul", x, x)));
            var inner = Op("Add", x, Op("Mul", cube, Scalar(0.044715)));
            var tanh = Op("Tanh", Op("Mul", inner, FloatScalar(Math.Sqrt(2 / Math.PI)))).Anchor();
            return TimesHalfX(x, Op("Add", tanh, Scalar(1)));
        }
    }
}
