using OnnxQuant.Runtime.Calibration.Statistics;

namespace OnnxQuant.Tests.Cli;

public class QuantizeCalibrationTests
{
    private static string VitTiny => Path.Combine(SharedPaths.RepoRoot, "models", "vit-tiny.onnx");

    private static string CalibrateRecipe(ScratchFolder folder)
    {
        string path = folder.File("calib.yaml");
        File.WriteAllText(path, "name: calib-only\npasses:\n  - calibrate\n");
        return path;
    }

    [Fact]
    public void MainCommand_SavesCalibration_AndReusesItWithoutData()
    {
        using var folder = new ScratchFolder();
        string recipe = CalibrateRecipe(folder);
        var first = Onnxquant.Run(VitTiny, folder.File("a.onnx"), "--recipe", recipe, "--data", "random", "--count", "3",
            "--shape", "pixel_values=1,3,32,32", "--save-calib", folder.File("s.json"));
        Assert.True(first.ExitCode == 0, first.ToString());
        var saved = CalibrationStatistics.Load(folder.File("s.json"));
        Assert.Equal(3, saved.Samples);
        Assert.True(saved.Count > 10, $"only {saved.Count} tensors were calibrated");

        // No --data: the statistics come from the file, so the run needs no data at all.
        var second = Onnxquant.Run(VitTiny, folder.File("b.onnx"), "--recipe", recipe, "--load-calib", folder.File("s.json"));
        Assert.True(second.ExitCode == 0, second.ToString());
        Assert.Contains("reusing", second.Stdout);
    }

    [Fact]
    public void MainCommand_WithACalibrateStepAndNoData_SaysWhatDataItNeeds()
    {
        using var folder = new ScratchFolder();
        var result = Onnxquant.Run(VitTiny, folder.File("a.onnx"), "--recipe", CalibrateRecipe(folder));
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--data", result.Stderr);
        Assert.False(File.Exists(folder.File("a.onnx")));
    }
}
