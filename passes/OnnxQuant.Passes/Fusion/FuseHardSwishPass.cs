using OnnxQuant.Ir;
using OnnxQuant.Passes.Rewriting;
using static OnnxQuant.Passes.Fusion.FusionChecks;
using static OnnxQuant.Passes.Rewriting.Pattern;

namespace OnnxQuant.Passes.Fusion;

/// <summary>
/// Fuses decomposed hard swish (Howard et al. 2019, MobileNetV3) into one <c>HardSwish</c> (opset ≥ 14), which ONNX
/// defines as <c>x · max(0, min(1, x/6 + 1/2))</c>, equal to each of:
/// <code>
/// Mul(x, Relu6(Add(x, 3))) then Div by 6 (or Mul by 1/6)      (PaddlePaddle, PyTorch exports)
/// Mul(x, Div(Relu6(Add(x, 3)), 6))  (or Mul by 1/6)
/// Mul(x, HardSigmoid(x, alpha=1/6, beta=0.5))
/// </code>
/// where Relu6 is Clip(·, 0, 6) (bounds as attributes before opset 11), Min(Relu(·), 6), Min(Max(·, 0), 6) or
/// Max(Min(·, 6), 0); multiplications in either operand order. Anchored at the Relu6's last op or the HardSigmoid.
/// Constants must be one-element constants within 1e-6 relative of their exact values (the 3 float) of rank at most
/// x's; every intermediate must be read only inside the pattern, in the same graph, and be no graph output.
/// x · HardSigmoid(y) with y ≠ x (a squeeze-excitation gate) is not hard swish and is left alone.
/// Does not fire below opset 14 (counted as <c>skipped-opset</c>).
/// </summary>
public sealed class FuseHardSwishPass : Pass<NoOptions>
{
    /// <summary>HardSwish's first version in the default domain.</summary>
    public const long RequiredOpset = 14;

    public override string Name => "fuse-hard-swish";
    public override string Summary => "Fuse x*relu6(x+3)/6 and x*HardSigmoid(x) into HardSwish (opset >= 14).";

    public override PassResult Run(Model model, NoOptions options, PassContext context) =>
        FusionRun.Apply(this, model, context, [new FuseHardSwish()], "decomposed hard swish(es)");

    private sealed class FuseHardSwish : TreePattern
    {
        protected override ValuePattern Define()
        {
            var x = Any("x");
            var u = Op("Add", x, FloatScalar(3));
            OpPattern[] relu6Forms =
            [
                Op("Clip", u, Scalar(0), Scalar(6)).Anchor(),
                Op("Clip", u).Where(n => n.GetAttribute("min")?.AsFloat() == 0 && n.GetAttribute("max")?.AsFloat() is float max
                                         && ConstantPattern.IsClose(max, 6, 1e-6), "its min and max attributes are not 0 and 6").Anchor(),
                Op("Min", Op("Relu", u), Scalar(6)).Anchor(),
                Op("Min", Op("Max", u, Scalar(0)), Scalar(6)).Anchor(),
                Op("Max", Op("Min", u, Scalar(6)), Scalar(0)).Anchor(),
            ];
            var forms = new List<ValuePattern>();
            foreach (var relu6 in relu6Forms)
            {
                forms.Add(Sixth(Op("Mul", x, relu6)));
                forms.Add(Op("Mul", x, Sixth(relu6)));
            }
            var hardSigmoid = Op("HardSigmoid", x)
                .Where(n => ConstantPattern.IsClose(n.GetFloat("alpha", 0.2f), 1.0 / 6, 1e-6) && ConstantPattern.IsClose(n.GetFloat("beta", 0.5f), 0.5, 1e-6),
                    "alpha and beta are not 1/6 and 0.5")
                .Anchor();
            forms.Add(Op("Mul", x, hardSigmoid));
            return OneOf([.. forms]);
        }

        private static OneOfPattern Sixth(ValuePattern v) => OneOf(Op("Div", v, Scalar(6)), Op("Mul", v, Scalar(1.0 / 6)));

        protected override string? Check(MatchResult match, RewriteContext context)
        {
            var x = match.Value("x");
            if (x.ElementType is { } t && t != DataType.Float) return $"the input is {t.OnnxName()}, not float";
            return ConstantRanksFit(match, x);
        }

        public override string? Unsupported(RewriteContext context) => context.RequireOpset(RequiredOpset, "HardSwish");

        public override void Rewrite(Rewriter rewriter, MatchResult match)
        {
            var hardSwish = rewriter.InsertBefore(match.Root, new Node("HardSwish", [match.Value("x")], 1, "", name: match.Root.Name));
            rewriter.Replace(match, hardSwish.Output);
        }
    }
}
