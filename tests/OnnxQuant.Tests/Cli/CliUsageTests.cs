using OnnxQuant.Cli;

namespace OnnxQuant.Tests.Cli;

/// <summary>How the command line answers a user who gets it wrong or asks for help, run in process through <see cref="CliApp.Run"/>.</summary>
public class CliUsageTests
{
    [Theory]
    [InlineData("eval", "eval <FLOAT> <QUANT> [options]")]
    [InlineData("bench", "bench <MODEL> [<MODEL2>] [options]")]
    [InlineData("inspect", "inspect <MODEL> [options]")]
    [InlineData("calibrate", "calibrate <MODEL> [options]")]
    [InlineData("convert", "convert <IN> <OUT> [options]")]
    [InlineData("audit", "audit <MODEL> [options]")]
    [InlineData("sensitivity", "sensitivity <MODEL> [options]")]
    [InlineData("recipes", "recipes [options]")]
    [InlineData("passes", "passes [options]")]
    [InlineData("quantize", "quantize <IN> <OUT> [options]")]
    public void EachCommandsHelp_ShowsItsOwnUsage(string command, string usage)
    {
        var result = Onnxquant.Run(command, "--help");

        Assert.True(result.ExitCode == 0, result.ToString());
        string usageLine = result.Stdout.Split('\n').SkipWhile(l => !l.StartsWith("Usage:", StringComparison.Ordinal)).Skip(1).First().Trim();
        // The root's name is the host's in process ("testhost"); what follows it is the command's own usage.
        Assert.EndsWith(" " + usage, usageLine);
        Assert.Equal(1, usageLine.Split(' ').Count(w => w == command));
    }

    [Fact]
    public void RootHelp_ListsTheCommands_AndTheShortFormOfQuantize()
    {
        var result = Onnxquant.Run("--help");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("`onnxquant IN OUT --recipe NAME` is short for `onnxquant quantize IN OUT --recipe NAME`", result.Stdout);
        Assert.Matches(@"\n\s+eval <FLOAT> <QUANT>\s", result.Stdout);
    }

    [Fact]
    public void MissingOptionAndArgument_IsOneLine_NamingBoth_AndExits1()
    {
        var result = Onnxquant.Run("eval", "float.onnx");

        Assert.Equal(ExitCodes.Usage, result.ExitCode);
        Assert.Equal("", result.Stdout);
        Assert.Equal(
            "error: Option '--data' is required; Required argument missing for command: 'eval'. Usage: `onnxquant eval --help`." + Environment.NewLine,
            result.Stderr);
    }

    [Fact]
    public void UnknownOption_IsOneLine_AndExits1()
    {
        var result = Onnxquant.Run("inspect", "model.onnx", "--bogus");

        Assert.Equal(ExitCodes.Usage, result.ExitCode);
        Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("error: Unrecognized command or argument '--bogus'", result.Stderr);
        Assert.EndsWith("Usage: `onnxquant inspect --help`." + Environment.NewLine, result.Stderr);
        Assert.Equal("", result.Stdout);
    }

    [Fact]
    public void NoArguments_SaysSoOnce_AndExits1()
    {
        var result = Onnxquant.Run();

        Assert.Equal(ExitCodes.Usage, result.ExitCode);
        Assert.Equal("", result.Stdout);
        Assert.Equal(UsageErrors.NoArguments + Environment.NewLine, result.Stderr);
        Assert.Contains("onnxquant IN OUT --recipe NAME", result.Stderr);
    }

    [Fact]
    public void InAndOutWithoutACommand_RunTheRecipe()
    {
        using var folder = new ScratchFolder();
        string output = folder.File("clean.onnx");

        var result = Onnxquant.Run(Path.Combine(SharedPaths.RepoRoot, "models", "vit-tiny.onnx"), output, "--recipe", "cleanup");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.True(File.Exists(output));
    }
}
