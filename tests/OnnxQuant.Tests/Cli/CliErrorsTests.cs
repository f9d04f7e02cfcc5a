using OnnxQuant.Cli;
using OnnxQuant.Ir;

namespace OnnxQuant.Tests.Cli;

public class CliErrorsTests
{
    [Fact]
    public void UserError_PrintsOneLineAndExitsWith2()
    {
        var stderr = new StringWriter();
        int code = CliErrors.Report(new OnnxQuantException("model.onnx: something is wrong. Fix it."), stderr, verbose: false);
        Assert.Equal(ExitCodes.UserError, code);
        Assert.Equal("error: model.onnx: something is wrong. Fix it." + Environment.NewLine, stderr.ToString());
    }

    [Fact]
    public void InternalError_ExitsWith70_AndHidesTheStackTraceUnlessVerbose()
    {
        Exception bug;
        try { throw new InvalidOperationException("broken invariant"); }
        catch (InvalidOperationException e) { bug = e; }

        var quiet = new StringWriter();
        Assert.Equal(ExitCodes.InternalError, CliErrors.Report(bug, quiet, verbose: false));
        Assert.StartsWith("internal error: InvalidOperationException: broken invariant", quiet.ToString());
        Assert.DoesNotContain("   at ", quiet.ToString());

        var verbose = new StringWriter();
        Assert.Equal(ExitCodes.InternalError, CliErrors.Report(bug, verbose, verbose: true));
        Assert.Contains("   at ", verbose.ToString());
    }

    [Fact]
    public void VerboseOption_AddsTheStackTraceToUserErrors()
    {
        using var dir = new ScratchFolder();
        string missing = dir.File("missing.onnx");
        var quiet = Onnxquant.Run("inspect", missing);
        var verbose = Onnxquant.Run("inspect", missing, "--verbose");
        Assert.Equal(2, quiet.ExitCode);
        Assert.Equal(2, verbose.ExitCode);
        Assert.DoesNotContain("   at ", quiet.Stderr);
        Assert.Contains("   at ", verbose.Stderr);
        Assert.StartsWith("error: ", verbose.Stderr);
    }
}
