using OnnxQuant.Cli;

namespace OnnxQuant.Tests.Cli;

/// <summary>
/// The main command fails early and clearly: the output path is checked before any pass runs, and an error inside a
/// pass names the pass and the recipe step, not where the program was built.
/// </summary>
public sealed class QuantizeErrorTests : IDisposable
{
    private readonly ScratchFolder _folder = new("oq-quantize-errors");
    private static readonly string VitTiny = Path.Combine(SharedPaths.RepoRoot, "models", "vit-tiny.onnx");
    private static readonly string[] W8A8 = ["--recipe", "w8a8", "--data", "random", "--count", "4", "--shape", "pixel_values=1,3,32,32"];

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void OutputInAMissingFolder_IsRefused_BeforeAnyPassRuns()
    {
        string output = Path.Combine(_folder.Path, "no-such-folder", "out.onnx");

        var result = Onnxquant.Run([VitTiny, output, .. W8A8]);

        Assert.Equal(ExitCodes.UserError, result.ExitCode);
        Assert.Equal($"error: OUT ({output}): the folder {Path.GetDirectoryName(output)} does not exist. "
            + $"Create it first (mkdir -p {Path.GetDirectoryName(output)}) or write elsewhere." + Environment.NewLine, result.Stderr);
        // Nothing ran: not the recipe's first line, not calibration.
        Assert.Equal("", result.Stdout);
    }

    [Fact]
    public void SaveCalibInAMissingFolder_IsRefused_BeforeCalibration()
    {
        string stats = Path.Combine(_folder.Path, "missing", "stats.json");

        var result = Onnxquant.Run([VitTiny, _folder.File("out.onnx"), .. W8A8, "--save-calib", stats]);

        Assert.Equal(ExitCodes.UserError, result.ExitCode);
        Assert.StartsWith($"error: --save-calib ({stats}): the folder", result.Stderr);
        Assert.Equal("", result.Stdout);
        Assert.False(File.Exists(_folder.File("out.onnx")));
    }

    [Fact]
    public void OutputThatIsAFolder_IsRefused_BeforeAnyPassRuns()
    {
        var result = Onnxquant.Run([VitTiny, _folder.Path, .. W8A8]);

        Assert.Equal(ExitCodes.UserError, result.ExitCode);
        Assert.Contains("is a folder; give a file name", result.Stderr);
        Assert.Equal("", result.Stdout);
    }

    [Fact]
    public void OutputInAFolderThatTakesNoNewFiles_IsRefused_BeforeAnyPassRuns()
    {
        // The suite runs as root, for whom permission bits do not stop a write; sysfs refuses new files even to root,
        // which is the case the probe file exists for (read-only mounts, access control the bits do not show).
        const string folder = "/sys";
        Assert.True(Directory.Exists(folder), "this test needs Linux's /sys");
        string output = Path.Combine(folder, "out.onnx");

        var result = Onnxquant.Run([VitTiny, output, .. W8A8]);

        Assert.Equal(ExitCodes.UserError, result.ExitCode);
        Assert.StartsWith($"error: OUT ({output}): cannot create files in {folder} (", result.Stderr);
        Assert.Contains("Check its permissions, or write elsewhere.", result.Stderr);
        Assert.Equal("", result.Stdout);
        Assert.False(File.Exists(output));
    }

    [Fact]
    public void UserErrorInsideAPass_NamesThePassAndTheBuiltInRecipesLine_WithoutBuildPaths()
    {
        // MNIST digits ([1, 28, 28]) for a model of 32×32 RGB images: the calibrate pass refuses them.
        var result = Onnxquant.Run(VitTiny, _folder.File("out.onnx"), "--recipe", "w8a8", "--data", Path.Combine(SharedPaths.Data, "mnist", "calib_256.npy"));

        Assert.Equal(ExitCodes.UserError, result.ExitCode);
        string[] lines = result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        int calibrateLine = File.ReadAllLines(Path.Combine(SharedPaths.RepoRoot, "models", "recipes", "w8a8.yaml"))
            .Select((text, i) => (text, i)).Single(l => l.text.TrimStart().StartsWith("- calibrate", StringComparison.Ordinal)).i + 1;
        Assert.Contains($"(in pass 'calibrate', recipe step at line {calibrateLine} of built-in recipe w8a8.yaml.) Nothing was written.", lines[0]);
        Assert.StartsWith("error: Model input 'pixel_values'", lines[0]);
        Assert.DoesNotContain("bin/", result.Stderr);
        Assert.DoesNotContain("   at ", result.Stderr);
        Assert.False(File.Exists(_folder.File("out.onnx")));
    }
}
