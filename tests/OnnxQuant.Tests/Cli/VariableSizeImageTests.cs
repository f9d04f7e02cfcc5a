using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Runtime.Calibration.Statistics;
using OnnxQuant.Tests.Calibration;

namespace OnnxQuant.Tests.Cli;

/// <summary>
/// A fully convolutional model (height and width free) calibrates on a folder of images of different sizes at batch
/// size 1, each image at its own size, without a declared resize; a size the model cannot take is reported with the
/// image and the fix.
/// </summary>
public sealed class VariableSizeImageTests : IDisposable
{
    private readonly ScratchFolder _folder = new("oq-variable-images");
    private readonly string _images;

    public VariableSizeImageTests()
    {
        _images = Directory.CreateDirectory(_folder.File("images")).FullName;
        // Three sizes; the smallest pixel value is in b.png, the largest in c.png.
        Image("a.png", 8, 6, 100, 150);
        Image("b.png", 5, 9, 3, 90);
        Image("c.png", 12, 4, 120, 250);
    }

    public void Dispose() => _folder.Dispose();

    /// <summary>An RGB image whose pixels run from <paramref name="low"/> to <paramref name="high"/>.</summary>
    private void Image(string name, int width, int height, byte low, byte high)
    {
        var pixels = new byte[width * height * 3];
        for (int i = 0; i < pixels.Length; i++) pixels[i] = (byte)(low + (high - low) * i / (pixels.Length - 1));
        PngFiles.Write(Path.Combine(_images, name), width, height, rgb: true, pixels);
    }

    /// <summary>image: float[batch, 3, height, width] → Conv 3→4 (3×3, padded) → Relu → features.</summary>
    private string ConvModel()
    {
        var graph = new Graph { Name = "fully-convolutional" };
        var shape = new Shape([Dim.Symbolic("batch"), Dim.Known(3), Dim.Symbolic("height"), Dim.Symbolic("width")]);
        var x = graph.AddInput("image", new TensorType(DataType.Float, shape));
        var random = new Random(1);
        var w = graph.AddConstant(Tensor.FromFloats(Enumerable.Range(0, 4 * 3 * 3 * 3).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray(), 4, 3, 3, 3), "w");
        var b = graph.AddConstant(Tensor.FromFloats([0.1f, -0.1f, 0.2f, 0f], 4), "b");
        var conv = graph.Append(new Node("Conv", [x, w, b], attributes: [Attribute.Ints("pads", 1, 1, 1, 1)], outputNames: ["conv"])).Output;
        var y = graph.Append(new Node("Relu", [conv], outputNames: ["features"])).Output;
        y.Type = new TensorType(DataType.Float, new Shape([Dim.Symbolic("batch"), Dim.Known(4), Dim.Symbolic("height"), Dim.Symbolic("width")]));
        graph.Outputs.Add(y);
        return Write(graph, "conv.onnx");
    }

    /// <summary>image: float[batch, 3, height, width] → Reshape to [1, 3, -1, 2]: only images with an even number of pixels fit.</summary>
    private string EvenPixelCountModel()
    {
        var graph = new Graph { Name = "even-pixels" };
        var x = graph.AddInput("image", new TensorType(DataType.Float, new Shape([Dim.Symbolic("batch"), Dim.Known(3), Dim.Symbolic("height"), Dim.Symbolic("width")])));
        var target = graph.AddConstant(Tensor.FromInt64s([1, 3, -1, 2], 4), "target");
        var y = graph.Append(new Node("Reshape", [x, target], outputNames: ["pairs"])).Output;
        y.Type = new TensorType(DataType.Float, new Shape([Dim.Known(1), Dim.Known(3), Dim.Symbolic("n"), Dim.Known(2)]));
        graph.Outputs.Add(y);
        return Write(graph, "even.onnx");
    }

    private string Write(Graph graph, string name)
    {
        using var model = new Model(graph) { ProducerName = "onnxquant-tests" };
        model.SetOpset("", 17);
        string path = _folder.File(name);
        OnnxWriter.Write(model, path);
        return path;
    }

    [Fact]
    public void W8A8_CalibratesOnImagesOfDifferentSizes_EachAtItsOwnSize()
    {
        string model = ConvModel(), stats = _folder.File("stats.json"), output = _folder.File("conv.w8a8.onnx");

        var result = Onnxquant.Run(model, output, "--recipe", "w8a8", "--data", _images, "--save-calib", stats);

        Assert.True(result.ExitCode == 0, result.ToString());
        var statistics = CalibrationStatistics.Load(stats);
        Assert.Equal(3, statistics.Samples);
        // The input's range spans every image: its minimum is b.png's, its maximum c.png's (pixels / 255).
        Assert.Equal(3 / 255.0, statistics["image"].MinMax.Min, 6);
        Assert.Equal(250 / 255.0, statistics["image"].MinMax.Max, 6);
        using var quantized = OnnxReader.Read(output);
        Assert.Contains(quantized.Graph.Nodes, n => n.OpType == "QuantizeLinear");
    }

    [Fact]
    public void ImagesOfDifferentSizes_InBatchesOfTwo_AreRefused_WithTheFix()
    {
        var result = Onnxquant.Run("calibrate", ConvModel(), "--data", _images, "--batch-size", "2", "--count", "2", "--out", _folder.File("s.json"));

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("preprocesses to [3,9,5], but a.png gave [3,6,8]", result.Stderr);
        Assert.Contains("at batch size 1, a model whose height and width are free takes each image at its own size", result.Stderr);
    }

    [Fact]
    public void AnImageSizeTheModelCannotTake_IsReportedWithTheImageAndTheFix()
    {
        var result = Onnxquant.Run("calibrate", EvenPixelCountModel(), "--data", _images, "--all-tensors", "--out", _folder.File("s.json"));

        Assert.Equal(2, result.ExitCode);
        Assert.StartsWith("error: The model cannot run on image b.png (fed as [1,3,9,5]): ", result.Stderr);
        Assert.Contains("add --image multiple-of=8", result.Stderr);
        Assert.False(File.Exists(_folder.File("s.json")));
    }

    [Fact]
    public void MultipleOf_CropsEachImageToASizeTheModelTakes()
    {
        string stats = _folder.File("s.json");

        var result = Onnxquant.Run("calibrate", EvenPixelCountModel(), "--data", _images, "--all-tensors", "--image", "multiple-of=2", "--out", stats);

        Assert.True(result.ExitCode == 0, result.ToString());
        var statistics = CalibrationStatistics.Load(stats);
        Assert.Equal(3, statistics.Samples);
        // b.png (5×9, which the model refuses) now runs as 4×8; c.png (12×4) was a multiple of 2 already and is fed last.
        Assert.Equal([1L, 3, 4, 12], statistics["image"].LastShape);
        Assert.Equal([1L, 3, 24, 2], statistics["pairs"].LastShape);
    }
}
