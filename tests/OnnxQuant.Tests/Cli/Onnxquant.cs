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

    /// <summary>
    /// Runs <c>onnxquant</c> on a pseudo-terminal <paramref name="columns"/> wide (util-linux <c>script</c>), as a user
    /// at a terminal would: stdout is not redirected, so progress bars and the terminal's width apply. The output is
    /// what the terminal received, escape sequences included (<see cref="PlainText"/> removes them).
    /// </summary>
    public static CliResult RunOnTerminal(string workingDirectory, int columns, params string[] args)
    {
        Assert.True(File.Exists("/usr/bin/script") || File.Exists("/bin/script"), "This test needs util-linux's `script` to give onnxquant a terminal.");
        string Quote(string a) => "'" + a.Replace("'", "'\\''") + "'";
        string command = $"stty cols {columns} rows 40; exec {Quote(DotnetHost)} {Quote(DllPath)} {string.Join(' ', args.Select(Quote))}";
        var start = new ProcessStartInfo("script") { WorkingDirectory = workingDirectory };
        foreach (string a in new[] { "-qec", command, "/dev/null" }) start.ArgumentList.Add(a);
        return RunProcess(start, new Dictionary<string, string> { ["TERM"] = "xterm-256color" });
    }

    /// <summary>Terminal output without ANSI escape sequences and carriage returns.</summary>
    public static string PlainText(string terminalOutput) =>
        System.Text.RegularExpressions.Regex.Replace(terminalOutput, @"\x1b(\[[0-9;?]*[ -/]*[@-~]|\][^\x07]*\x07|[()][0-9A-Za-z]|[=>])", "").Replace("\r", "");

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
