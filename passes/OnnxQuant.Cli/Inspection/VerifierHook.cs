using OnnxQuant.Ir;
using OnnxQuant.Ir.Verification;

namespace OnnxQuant.Cli.Inspection;

/// <summary>The one place <c>inspect</c> calls the IR verifier.</summary>
internal static class VerifierHook
{
    public static InspectReport.VerifierSummary Run(Model model)
    {
        var report = Verifier.Verify(model);
        return new(report.IsValid ? "passed" : "failed", report.Issues.Select(i => $"{i.Kind}: {i.Message} ({i.Where})").ToList());
    }
}
