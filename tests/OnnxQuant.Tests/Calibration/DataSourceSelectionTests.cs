using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Passes.Calibration;
using OnnxQuant.Runtime.DataSources;
using OnnxQuant.Runtime.Calibration.Statistics;
using OnnxQuant.Tests.Cli;

namespace OnnxQuant.Tests.Calibration;

/// <summary><c>--skip</c>/<c>--count</c> (a held-out split of one file or folder) and <c>--image KEY=VALUE</c>.</summary>
public sealed class DataSourceSelectionTests
{
    private static readonly string Calib256 = Path.Combine(SharedPaths.Data, "mnist", "calib_256.npy");

    private static Model Vit() => OnnxReader.Read(SharedPaths.Model("vit_mnist.onnx"));

    private static float[] RawRow(int index) =>
        System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(File.ReadAllBytes(Calib256).AsSpan(128 + index * 784 * 4, 784 * 4)).ToArray();

    [Fact]
    public void Skip_PassesOverTheFirstSamples_AndWithoutCountTakesTheRest()
    {
        using var model = Vit();
        using var data = CalibrationDataSource.Open(Calib256, model, new DataSourceOptions { Skip = 250 });
        Assert.Equal(Enumerable.Range(250, 6), data.Order);
        Assert.Equal(RawRow(250), data.Batches().First().Feeds["pixel_values"].AsSpan<float>().ToArray());
    }

    [Fact]
    public void SkipAndCount_SelectAWindow_ThatIsDisjointFromTheSkippedSamples()
    {
        using var model = Vit();
        using var first = CalibrationDataSource.Open(Calib256, model, new DataSourceOptions { Count = 32 });
        using var rest = CalibrationDataSource.Open(Calib256, model, new DataSourceOptions { Skip = 32, Count = 3 });
        Assert.Equal([32, 33, 34], rest.Order);
        Assert.Empty(first.Order.Intersect(rest.Order));
    }

    [Theory]
    [InlineData(256, null, "leaves none")]
    [InlineData(250, 7, "6 are left")]
    [InlineData(-1, null, "--skip")]
    public void ASelectionBeyondTheData_IsAnErrorThatSaysWhatIsLeft(int skip, int? count, string message)
    {
        using var model = Vit();
        var e = Assert.Throws<OnnxQuantException>(() => CalibrationDataSource.Open(Calib256, model, new DataSourceOptions { Skip = skip, Count = count }));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void ImageOptions_FromTheCommandLine_UseTheRecipeKeys_AndOverrideTheRecipe()
    {
        var basis = new ImagePreprocessing { Scale = 0.5, Std = [2.0] };
        var o = CalibrationSection.ParseImageOptions(["resize-shorter-side=256", "crop=256,224", "mean=0.1,0.2,0.3"], basis);
        Assert.Equal(256, o.ResizeShorterSide);
        Assert.Equal((256, 224), (o.CropHeight, o.CropWidth));
        Assert.Equal([0.1, 0.2, 0.3], o.Mean);
        Assert.Equal(0.5, o.Scale);
        Assert.Equal([2.0], o.Std);
    }

    [Theory]
    [InlineData("crop", "KEY=VALUE")]
    [InlineData("resize-shorter=256", "resize-shorter-side")]
    [InlineData("crop=big", "whole number")]
    public void ImageOptions_Malformed_AreErrorsThatNameTheEntry(string entry, string hint)
    {
        var e = Assert.Throws<OnnxQuantException>(() => CalibrationSection.ParseImageOptions([entry]));
        Assert.Contains("--image " + entry, e.Message);
        Assert.Contains(hint, e.Message);
    }

    [Fact]
    public void CalibrateCommand_TakesSkipAndImageOptions_FromTheCommandLine()
    {
        using var folder = new ScratchFolder("skip-image");
        // Three photos of different sizes: only a resize on the command line makes them one shape.
        foreach (var (name, w, h) in new[] { ("a.png", 10, 12), ("b.png", 12, 10), ("c.png", 9, 9) })
            PngFiles.Write(folder.File(name), w, h, rgb: true, Enumerable.Range(0, w * h * 3).Select(i => (byte)(i * 7)).ToArray());
        using (var model = CalibrationTestModels.Image(3, 8, 8)) OnnxWriter.Write(model, folder.File("m.onnx"));
        string stats = folder.File("s.json");

        var r = Onnxquant.Run("calibrate", folder.File("m.onnx"), "--data", folder.Path, "--skip", "1", "--image", "resize=8,8", "--out", stats);

        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal(2, CalibrationStatistics.Load(stats).Samples);
    }
}
