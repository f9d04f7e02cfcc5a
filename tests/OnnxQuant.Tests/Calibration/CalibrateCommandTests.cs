using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Passes;
using OnnxQuant.Passes.Calibration;
using OnnxQuant.Runtime.DataSources;
using OnnxQuant.Passes.Calibration.Ranges;
using OnnxQuant.Runtime.Calibration.Statistics;
using OnnxQuant.Passes.Quantization;
using OnnxQuant.Passes.Recipes;
using OnnxQuant.Tests.Cli;

namespace OnnxQuant.Tests.Calibration;

public sealed class CalibrateCommandTests : IDisposable
{
    private static readonly string Vit = SharedPaths.Model("vit_mnist.onnx");
    private static readonly string Calib256 = Path.Combine(SharedPaths.Data, "mnist", "calib_256.npy");

    /// <summary>An activation insert-qdq reads (attention probabilities into a MatMul), [1, 4, 50, 50] per sample.</summary>
    private const string Softmax = "/transformer/layers.0.0/fn/attend/Softmax_output_0";
    private readonly string _dir = Directory.CreateTempSubdirectory("calibrate-command-tests-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData("minmax")]
    [InlineData("percentile")]
    [InlineData("entropy")]
    [InlineData("mse")]
    public void CalibratesVitMnistWithEachMethodAndSavesLoadableStatistics(string method)
    {
        string stats = Path.Combine(_dir, $"{method}.json");
        var r = Onnxquant.Run("calibrate", Vit, "--data", Calib256, "--count", "8", "--batch-size", "4", "--method", method, "--out", stats);
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);
        Assert.Contains("Calibrated", r.Stdout);
        Assert.Contains("Widest tensors", r.Stdout);
        var loaded = CalibrationStatistics.Load(stats);
        Assert.Equal(8, loaded.Samples);
        // By default, the tensors insert-qdq reads ranges of (all of them floating-point here).
        using (var model = OnnxReader.Read(Vit))
            Assert.Equal(InsertQdqPass.CalibrationTargets(model).Order(StringComparer.Ordinal), loaded.Tensors.Keys.Order(StringComparer.Ordinal));
        var softmax = loaded[Softmax];
        Assert.Equal(8 * 4 * 50 * 50, softmax.MinMax.Count);
        Assert.Equal(method != "minmax", softmax.Histogram is not null);
    }

    [Fact]
    public void AllTensorsKeepsEveryFloatingPointActivation()
    {
        string stats = Path.Combine(_dir, "all.json");
        var r = Onnxquant.Run("calibrate", Vit, "--data", Calib256, "--count", "2", "--all-tensors", "--out", stats);
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);
        var loaded = CalibrationStatistics.Load(stats);
        Assert.True(loaded.Count > 100, $"{loaded.Count} tensors");
        Assert.Equal(2 * 10, loaded["logits"].MinMax.Count);
    }

    [Fact]
    public void PassesBeforeCalibrateThatCollectTheirOwnStatistics_ReadTheSameData()
    {
        // smooth-quant runs before calibrate in w8a8-smooth and needs data itself.
        string stats = Path.Combine(_dir, "smooth.json");
        var r = Onnxquant.Run("calibrate", Vit, "--data", Calib256, "--count", "4", "--recipe", "w8a8-smooth", "--out", stats);
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);
        Assert.Equal(4, CalibrationStatistics.Load(stats).Samples);
    }

    [Fact]
    public void WithoutDataItSaysHowToGiveIt()
    {
        var r = Onnxquant.Run("calibrate", Vit, "--out", Path.Combine(_dir, "s.json"));
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("--data", r.Stderr);
    }

    [Fact]
    public void ARecipeSuppliesDataAndMethodAndItsEarlierPassesRunFirst()
    {
        string recipe = Path.Combine(_dir, "r.yaml");
        File.WriteAllText(recipe, $"""
            name: calibrate-test
            passes:
              - fuse-layer-norm
              - calibrate: {"{"} method: entropy {"}"}
            calibration:
              data: {Calib256}
              count: 8
              batch-size: 4
            """);
        string stats = Path.Combine(_dir, "s.json");
        var r = Onnxquant.Run("calibrate", Vit, "--recipe", recipe, "--out", stats);
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);
        Assert.Contains("Running the 1 passes", r.Stdout);
        Assert.Contains("Range (entropy)", r.Stdout);
        var loaded = CalibrationStatistics.Load(stats);
        Assert.Equal(8, loaded.Samples);
        Assert.Equal(HistogramKind.Signed, loaded[Softmax].Spec.Histogram);
    }

    [Fact]
    public void ThePassLeavesRangesForLaterPassesAndKeepsTheModel()
    {
        using var model = OnnxReader.Read(Vit);
        int nodes = model.Graph.NodeCount;
        var context = new PassContext();
        context.SetAnalysis(new CalibrationSettings { Data = Calib256, Source = new DataSourceOptions { Count = 6, BatchSize = 3 } });
        var result = new CalibratePass().Run(model, new CalibrateOptions { Method = CalibrationMethod.Percentile, Percentile = 99.9 }, context);
        Assert.False(result.Modified);
        Assert.Equal(nodes, model.Graph.NodeCount);
        var calibration = context.GetAnalysis<CalibrationResult>()!;
        Assert.Equal(6, calibration.Statistics.Samples);
        var softmax = calibration.Statistics[Softmax];
        Assert.Equal(RangeCalculator.Compute(softmax, calibration.Options), calibration.RangesByName[Softmax]);
        Assert.InRange(calibration.RangesByName[Softmax].Max, softmax.MinMax.Min, softmax.MinMax.Max);
    }

    [Fact]
    public void ThePassReusesSavedStatisticsInsteadOfRunningTheModel()
    {
        using var model = OnnxReader.Read(Vit);
        string saved = Path.Combine(_dir, "saved.json");
        var first = new PassContext();
        first.SetAnalysis(new CalibrationSettings { Data = Calib256, Source = new DataSourceOptions { Count = 4 }, SaveTo = saved });
        new CalibratePass().Run(model, new CalibrateOptions(), first);
        var second = new PassContext();
        second.SetAnalysis(new CalibrationSettings { LoadFrom = saved }); // no data: it must not need any
        new CalibratePass().Run(model, new CalibrateOptions(), second);
        Assert.Equal(first.GetAnalysis<CalibrationResult>()!.RangesByName, second.GetAnalysis<CalibrationResult>()!.RangesByName);
    }

    [Fact]
    public void TheRecipeSectionIsReadStrictly()
    {
        var recipe = RecipeLoader.Parse("""
            name: t
            passes: []
            calibration:
              data: images
              count: 32
              shapes: { input_ids: [1, 64] }
              images: { resize-shorter-side: 256, crop: 224, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], channels: bgr, layout: nhwc }
            """, "r.yaml");
        var settings = CalibrationSection.Parse(recipe.Calibration, recipe.Source);
        Assert.Equal("images", settings.Data);
        Assert.Equal(32, settings.Source.Count);
        Assert.Equal([1L, 64], settings.Source.Shapes["input_ids"]);
        Assert.Equal(224, settings.Source.Images.CropWidth);
        Assert.Equal(ImageChannels.Bgr, settings.Source.Images.Channels);
        Assert.Equal(ImageLayout.Nhwc, settings.Source.Images.Layout);

        var bad = RecipeLoader.Parse("name: t\npasses: []\ncalibration:\n  dat: x\n", "r.yaml");
        var e = Assert.Throws<RecipeException>(() => CalibrationSection.Parse(bad.Calibration, bad.Source));
        Assert.Contains("r.yaml:4", e.Message);
        Assert.Contains("'dat'", e.Message);
    }
}
