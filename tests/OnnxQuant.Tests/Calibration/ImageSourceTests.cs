using OnnxQuant.Ir;
using OnnxQuant.Runtime.DataSources;

namespace OnnxQuant.Tests.Calibration;

public sealed class ImageSourceTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("calib-image-tests-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void KnownPixelsAreScaledAndNormalizedPerChannelInNchw()
    {
        // 2×1 RGB: (255, 0, 51) and (0, 102, 255).
        PngFiles.Write(Path.Combine(_dir, "a.png"), 2, 1, rgb: true, [255, 0, 51, 0, 102, 255]);
        using var model = CalibrationTestModels.Image(3, 1, 2);
        var pre = new ImagePreprocessing { Mean = [0.1, 0.2, 0.3], Std = [0.5, 0.25, 2] };
        using var data = CalibrationDataSource.Open(_dir, model, new DataSourceOptions { Images = pre });
        var feed = data.Batches().Single().Feeds["image"];
        Assert.Equal([1L, 3, 1, 2], feed.Dims);
        float V(int pixel, int c) => (float)((pixel / 255.0 - pre.Mean[c]) / pre.Std[c]);
        Assert.Equal([V(255, 0), V(0, 0), V(0, 1), V(102, 1), V(51, 2), V(255, 2)], feed.AsSpan<float>().ToArray());
    }

    [Fact]
    public void BgrAndNhwcReorderChannelsAndAxes()
    {
        PngFiles.Write(Path.Combine(_dir, "a.png"), 2, 1, rgb: true, [10, 20, 30, 40, 50, 60]);
        var g = new Graph();
        using var model = new Model(g) { IrVersion = 10 };
        model.SetOpset("", 17);
        var x = g.AddInput("image", new TensorType(DataType.UInt8, new Shape([Dim.Symbolic("n"), Dim.Known(1), Dim.Known(2), Dim.Known(3)])));
        var y = g.Append(new Node("Identity", [x])).Output;
        y.Type = new TensorType(DataType.UInt8);
        g.Outputs.Add(y);
        var pre = new ImagePreprocessing { Channels = ImageChannels.Bgr, Layout = ImageLayout.Nhwc, Scale = 1, ElementType = DataType.UInt8 };
        using var data = CalibrationDataSource.Open(_dir, model, new DataSourceOptions { Images = pre });
        Assert.Equal(new byte[] { 30, 20, 10, 60, 50, 40 }, data.Batches().Single().Feeds["image"].RawData.ToArray());
    }

    [Fact]
    public void BilinearShrinkWeighsNeighboursLikePil()
    {
        // A gray ramp 0, 10, …, 70 (two equal rows) shrunk to 4×1: a 2× triangle filter has weights 1/8, 3/8, 3/8, 1/8.
        var row = Enumerable.Range(0, 8).Select(i => (byte)(10 * i)).ToArray();
        PngFiles.Write(Path.Combine(_dir, "ramp.png"), 8, 2, rgb: false, [.. row, .. row]);
        using var model = CalibrationTestModels.Image(1, 1, 4);
        var pre = new ImagePreprocessing { Channels = ImageChannels.Gray, ResizeHeight = 1, ResizeWidth = 4, Scale = 1 };
        using var data = CalibrationDataSource.Open(_dir, model, new DataSourceOptions { Images = pre });
        var v = data.Batches().Single().Feeds["image"].AsSpan<float>().ToArray();
        Assert.Equal(25f, v[1], 4); // ⅛·10 + ⅜·20 + ⅜·30 + ⅛·40
        Assert.Equal(45f, v[2], 4);
    }

    [Fact]
    public void ImageNetPreprocessingOfSharedPhotosGivesTheModelsShapeAndRange()
    {
        using var model = CalibrationTestModels.Image(3, 224, 224);
        using var data = CalibrationDataSource.Open(Path.Combine(SharedPaths.Data, "images"), model,
            new DataSourceOptions { Images = ImagePreprocessing.ImageNet, Count = 2, BatchSize = 2 });
        var feed = data.Batches().Single().Feeds["image"];
        Assert.Equal([2L, 3, 224, 224], feed.Dims);
        var values = feed.AsSpan<float>();
        var pre = ImagePreprocessing.ImageNet;
        for (int c = 0; c < 3; c++)
        {
            var channel = values.Slice(c * 224 * 224, 224 * 224).ToArray();
            double lo = (0 - pre.Mean[c]) / pre.Std[c], hi = (1 - pre.Mean[c]) / pre.Std[c];
            Assert.All(channel, v => Assert.InRange(v, lo - 1e-5, hi + 1e-5));
            Assert.True(channel.Max() - channel.Min() > 1, "a photograph is not flat");
        }
    }

    [Fact]
    public void AnUnreadableImageIsNamed()
    {
        File.WriteAllText(Path.Combine(_dir, "broken.png"), "not an image at all");
        using var model = CalibrationTestModels.Image(3, 4, 4);
        var e = Assert.Throws<OnnxQuantException>(() => CalibrationDataSource.Open(_dir, model));
        Assert.Contains("Cannot decode image", e.Message);
        Assert.Contains("broken.png", e.Message);
    }

    [Fact]
    public void ImagesOfTheWrongSizeSayWhatTheModelExpects()
    {
        PngFiles.Write(Path.Combine(_dir, "a.png"), 2, 1, rgb: true, new byte[6]);
        using var model = CalibrationTestModels.Image(3, 4, 4);
        var e = Assert.Throws<OnnxQuantException>(() => CalibrationDataSource.Open(_dir, model));
        Assert.Contains("'image'", e.Message);
        Assert.Contains("fixes it to 4", e.Message);
    }
}
