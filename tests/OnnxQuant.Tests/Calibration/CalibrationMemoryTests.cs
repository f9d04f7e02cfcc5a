using System.Globalization;
using System.Text.RegularExpressions;
using OnnxQuant.Tests.Cli;

namespace OnnxQuant.Tests.Calibration;

public partial class CalibrationMemoryTests
{
    /// <summary>
    /// Statistics are streamed: calibrating on 5,000 samples must not take materially more memory than on 256
    /// (each run in its own process; peak resident memory from /proc/self/status as the command reports it).
    /// </summary>
    [Fact]
    public void PeakMemory_On5000Samples_IsWithin1Point5TimesThatOn256()
    {
        using var folder = new ScratchFolder();
        long small = PeakKb(folder, "calib_256.npy");
        long large = PeakKb(folder, "eval_5000.npy");
        Assert.True(large <= 1.5 * small, $"peak resident memory grew from {small} kB (256 samples) to {large} kB (5000 samples).");
    }

    private static long PeakKb(ScratchFolder folder, string data)
    {
        var result = Onnxquant.RunProcess(folder.Path, null, "calibrate", SharedPaths.Model("vit_mnist.onnx"),
            "--data", Path.Combine(SharedPaths.Data, "mnist", data), "--method", "minmax", "--out", folder.File(data + ".json"), "--benchmark");
        Assert.True(result.ExitCode == 0, result.ToString());
        var match = Hwm().Match(result.Stdout);
        Assert.True(match.Success, "no VmHWM in the output:\n" + result.Stdout);
        return long.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
    }

    [GeneratedRegex(@"VmHWM\)?:\s*(\d+)\s*kB")]
    private static partial Regex Hwm();
}
