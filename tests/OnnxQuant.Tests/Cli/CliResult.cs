namespace OnnxQuant.Tests.Cli;

/// <summary>What one run of <c>onnxquant</c> did.</summary>
public sealed record CliResult(int ExitCode, string Stdout, string Stderr)
{
    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Stdout}\n--- stderr\n{Stderr}";
}
