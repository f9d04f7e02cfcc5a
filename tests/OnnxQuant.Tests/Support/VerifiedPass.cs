using OnnxQuant.Ir;
using OnnxQuant.Ir.Verification;
using OnnxQuant.Passes;

namespace OnnxQuant.Tests.Support;

/// <summary>
/// How the test kits run a pass, the way the pipeline's <c>--verify-each</c> does: the pass, then the IR verifier, so a
/// pass that leaves the graph inconsistent (a dangling use, a node before its input's producer, a duplicate name) fails
/// the test that ran it, not a later one.
/// </summary>
internal static class VerifiedPass
{
    public static PassResult Run(IPass pass, Model model, object options, PassContext context)
    {
        var result = pass.Run(model, options, context);
        Verifier.Verify(model).ThrowIfInvalid($"after pass '{pass.Name}'");
        return result;
    }

    /// <summary>Runs <paramref name="pass"/> with its default options.</summary>
    public static PassResult Run(IPass pass, Model model, PassContext context) =>
        Run(pass, model, Activator.CreateInstance(pass.OptionsType)!, context);

    public static PassResult Run<TOptions>(Pass<TOptions> pass, Model model, TOptions options, PassContext context)
        where TOptions : class, new() => Run((IPass)pass, model, options, context);

    public static PassResult Run<TOptions>(Pass<TOptions> pass, Model model, PassContext context)
        where TOptions : class, new() => Run(pass, model, new TOptions(), context);
}
