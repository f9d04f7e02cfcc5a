using OnnxQuant.Ir;
using OnnxQuant.Ir.Verification;
using OnnxQuant.Passes;

namespace OnnxQuant.Tests.Support;

/// <summary>Runs a pass the way the pipeline's <c>--verify-each</c> does: the IR Verifier checks the model right after it.</summary>
internal static class VerifiedPass
{
    public static PassResult Run<TOptions>(Pass<TOptions> pass, Model model, TOptions options, PassContext context) where TOptions : class, new()
    {
        var result = pass.Run(model, options, context);
        Verifier.Verify(model).ThrowIfInvalid($"after pass '{pass.Name}'");
        return result;
    }

    public static PassResult Run<TOptions>(Pass<TOptions> pass, Model model, PassContext context) where TOptions : class, new() =>
        Run(pass, model, new TOptions(), context);
}
