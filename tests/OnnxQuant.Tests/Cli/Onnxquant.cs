using System.Diagnostics;
using OnnxQuant.Cli;

namespace OnnxQuant.Tests.Cli;

/// <summary>
/// Runs the <c>onnxquant</c> command: in-process through <see cref="CliApp.Run"/>, or as a separate process
/// (<c>dotnet onnxquant.dll</c> from this test's output folder, where the referenced CLI project is copied) when a
/// fresh process is the point: memory limits, determinism across processes, crashes.
/// </summary>
public static class Onnxquant
{
    public static CliResult Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = CliApp.Run(args, stdout, stderr);
        return new CliResult(code, stdout.ToString(), stderr.ToString());
    }

    public static string DllPath => Path.Combine(AppContext.BaseDirectory, "onnxquant.dll");

    /// <summary>The dotnet host running these tests (set by `dotnet test`), else the one on PATH.</summary>
    public static string DotnetHost =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";

    /// <summary>Runs <c>dotnet onnxquant.dll ARGS</c> in <paramref name="workingDirectory"/> with extra environment variables.</summary>
    public static CliResult RunProcess(string workingDirectory, IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        var start = new ProcessStartInfo(DotnetHost) { WorkingDirectory = workingDirectory };
        start.ArgumentList.Add(DllPath);
        foreach (string a in args) start.ArgumentList.Add(a);
        return RunProcess(start, environment);
    }

    /// <summary>
    /// Runs <c>onnxquant</c> under <c>bash -c</c> so the test can set limits first (e.g. <c>ulimit -f</c>);
    /// <paramref name="prelude"/> runs before <c>exec dotnet onnxquant.dll "$@"</c>.
    /// </summary>
    public static CliResult RunProcessInShell(string workingDirectory, string prelude, IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        var start = new ProcessStartInfo("bash") { WorkingDirectory = workingDirectory };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add($"{prelude}\nexec \"$0\" \"$@\"");
        start.ArgumentList.Add(DotnetHost);
        start.ArgumentList.Add(DllPath);
        foreach (string a in args) start.ArgumentList.Add(a);
        return RunProcess(start, environment);
    }

    private static CliResult RunProcess(ProcessStartInfo start, IReadOnlyDictionary<string, string>? environment)
    {
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.UseShellExecute = false;
        if (environment is not null)
            foreach (var (key, value) in environment) start.Environment[key] = value;
        using var process = Process.Start(start) ?? throw new InvalidOperationException("Cannot start dotnet.");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(2)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"onnxquant {string.Join(' ', start.ArgumentList)} did not finish in 2 minutes.");
        }
        return new CliResult(process.ExitCode, stdout.Result, stderr.Result);
    }
}
