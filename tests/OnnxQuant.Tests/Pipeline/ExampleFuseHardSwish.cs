using OnnxQuant.Passes.Rewriting;
using static OnnxQuant.Passes.Rewriting.Pattern;

namespace OnnxQuant.Tests.Pipeline;

/// <summary>
/// The example pattern for the rewrite infrastructure: <c>x · Clip(x + 3, 0, 6) / 6 = HardSwish(x)</c> (HardSwish is
/// opset 14). It shows a repeated variable, commutative inputs, scalar constants and an opset check.
/// </summary>
internal sealed class ExampleFuseHardSwish : TreePattern
{
    protected override OpPattern Define()
    {
        var x = Any("x");
        return Op("Div", Op("Mul", x, Op("Clip", Op("Add", x, Scalar(3)), Scalar(0), Scalar(6)).As("clip")), Scalar(6));
    }

    protected override string? Check(MatchResult match, RewriteContext context) => context.RequireOpset(14, "HardSwish");

    public override void Rewrite(Rewriter rewriter, MatchResult match)
    {
        var hardSwish = rewriter.CreateBefore(match.Root, "HardSwish", [match.Value("x")]);
        rewriter.Replace(match, hardSwish.Output);
    }
}
