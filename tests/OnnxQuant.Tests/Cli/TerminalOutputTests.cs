using System.Text.RegularExpressions;

namespace OnnxQuant.Tests.Cli;

/// <summary>
/// What a user at a terminal sees, run as a process on a pseudo-terminal (<see cref="Onnxquant.RunOnTerminal"/>):
/// listings wrap to its width, and the main command shows calibration progress, which redirected output does not get.
/// </summary>
public sealed class TerminalOutputTests : IDisposable
{
    private const int Columns = 60;
    private readonly ScratchFolder _folder = new("oq-terminal");
    private static readonly string VitTiny = Path.Combine(SharedPaths.RepoRoot, "models", "vit-tiny.onnx");

    public void Dispose() => _folder.Dispose();

    private static string Words(string text) => Regex.Replace(text, @"\s+", " ").Trim();

    [Fact]
    public void Passes_WrapToTheTerminalWidth_AndLoseNoWord()
    {
        var terminal = Onnxquant.RunOnTerminal(_folder.Path, Columns, "passes");
        var piped = Onnxquant.Run("passes");

        string text = Onnxquant.PlainText(terminal.Stdout);
        Assert.True(terminal.ExitCode == 0, terminal.ToString());
        var lines = text.Split('\n');
        Assert.All(lines, line => Assert.True(line.Length <= Columns, $"{line.Length} columns: {line}"));
        // Continuation lines hang under their entry.
        Assert.Contains(lines, line => line.StartsWith("        ", StringComparison.Ordinal));
        Assert.Equal(Words(piped.Stdout), Words(text));
    }

    [Fact]
    public void Recipes_WrapToTheTerminalWidth()
    {
        var terminal = Onnxquant.RunOnTerminal(_folder.Path, Columns, "recipes");

        string text = Onnxquant.PlainText(terminal.Stdout);
        Assert.True(terminal.ExitCode == 0, terminal.ToString());
        Assert.All(text.Split('\n'), line => Assert.True(line.TrimEnd().Length <= Columns, $"{line.Length} columns: {line}"));
        foreach (string preset in new[] { "cleanup", "w8a8", "w8a8-dynamic", "w4a16" })
            Assert.Matches($@"\n\s*{Regex.Escape(preset)}\s", text);
    }

    [Fact]
    public void Quantize_ShowsCalibrationProgress_OnATerminal_AndNotWhenRedirected()
    {
        string[] args = [VitTiny, "", "--recipe", "w8a8", "--data", "random", "--count", "16", "--shape", "pixel_values=1,3,32,32"];
        args[1] = _folder.File("terminal.onnx");
        var terminal = Onnxquant.RunOnTerminal(_folder.Path, 100, args);
        args[1] = _folder.File("redirected.onnx");
        var redirected = Onnxquant.Run(args);

        string text = Onnxquant.PlainText(terminal.Stdout);
        Assert.True(terminal.ExitCode == 0, text);
        Assert.Matches(@"calibrating 16/16 samples, [\d.]+/s\s.*100%", text);
        Assert.Contains("Wrote ", text);
        Assert.True(redirected.ExitCode == 0, redirected.ToString());
        Assert.DoesNotContain("calibrating", redirected.Stdout);
        // The bar changes nothing in the result.
        Assert.Equal(File.ReadAllBytes(_folder.File("redirected.onnx")), File.ReadAllBytes(_folder.File("terminal.onnx")));
    }
}
