using System.IO.Compression;
using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Runtime.DataSources;

namespace OnnxQuant.Tests.Calibration;

public sealed class DataSourceTests : IDisposable
{
    private static readonly string Calib256 = Path.Combine(SharedPaths.Data, "mnist", "calib_256.npy");
    private readonly string _dir = Directory.CreateTempSubdirectory("calib-data-tests-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Path_(string name) => Path.Combine(_dir, name);

    private static Model Vit(string file = "vit_mnist.onnx") => OnnxReader.Read(SharedPaths.Model(file));

    /// <summary>The float32 rows of calib_256.npy, read from the bytes after its 128-byte header.</summary>
    private static float[] RawRows(int first, int count)
    {
        var bytes = File.ReadAllBytes(Calib256);
        return System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(bytes.AsSpan(128 + first * 784 * 4, count * 784 * 4)).ToArray();
    }

    [Fact]
    public void BatchesAnNpyAlongAxisZeroInFileOrder()
    {
        using var model = Vit();
        using var data = CalibrationDataSource.Open(Calib256, model, new DataSourceOptions { Count = 10, BatchSize = 4 });
        var batches = data.Batches().ToList();
        Assert.Equal([4, 4, 2], batches.Select(b => b.SampleCount));
        var feed = batches[1].Feeds["pixel_values"];
        Assert.Equal([4L, 1, 28, 28], feed.Dims);
        Assert.Equal(RawRows(4, 4), feed.AsSpan<float>().ToArray());
        Assert.Equal([2L, 1, 28, 28], batches[2].Feeds["pixel_values"].Dims);
    }

    [Fact]
    public void SeededShuffleIsReproducibleAndTakesDistinctSamples()
    {
        using var model = Vit();
        var options = new DataSourceOptions { Count = 20, Shuffle = true, Seed = 3 };
        using var a = CalibrationDataSource.Open(Calib256, model, options);
        using var b = CalibrationDataSource.Open(Calib256, model, options);
        Assert.Equal(a.Order, b.Order);
        Assert.Equal(20, a.Order.Distinct().Count());
        Assert.NotEqual(Enumerable.Range(0, 20), a.Order);
        var first = a.Batches().First().Feeds["pixel_values"].AsSpan<float>().ToArray();
        Assert.Equal(RawRows(a.Order[0], 1), first);
        // A second pass (another chunk) gets the same batches.
        Assert.Equal(first, a.Batches().First().Feeds["pixel_values"].AsSpan<float>().ToArray());
    }

    [Fact]
    public void WrongSampleShapeNamesTheInputTheExpectedAndTheFile()
    {
        NpyFiles.WriteFloats(Path_("flat.npy"), [4, 28, 28], new float[4 * 784]);
        using var model = Vit();
        var e = Assert.Throws<OnnxQuantException>(() => CalibrationDataSource.Open(Path_("flat.npy"), model));
        Assert.Contains("'pixel_values'", e.Message);
        Assert.Contains("flat.npy", e.Message);
        Assert.Contains("[4,28,28]", e.Message);
        Assert.Contains("[N,1,28,28]", e.Message);
    }

    [Fact]
    public void WrongFixedDimensionNamesItsSize()
    {
        NpyFiles.WriteFloats(Path_("big.npy"), [2, 1, 32, 32], new float[2 * 1024]);
        using var model = Vit();
        var e = Assert.Throws<OnnxQuantException>(() => CalibrationDataSource.Open(Path_("big.npy"), model));
        Assert.Contains("'pixel_values'", e.Message);
        Assert.Contains("dimension 2 is 32", e.Message);
        Assert.Contains("fixes it to 28", e.Message);
    }

    [Fact]
    public void WrongElementTypeNamesExpectedAndActual()
    {
        NpyFiles.WriteInt64s(Path_("ints.npy"), [2, 1, 28, 28], new long[2 * 784]);
        using var model = Vit();
        var e = Assert.Throws<OnnxQuantException>(() => CalibrationDataSource.Open(Path_("ints.npy"), model));
        Assert.Contains("'pixel_values' is float", e.Message);
        Assert.Contains("int64", e.Message);
        Assert.Contains("ints.npy", e.Message);
    }

    [Fact]
    public void AFixedBatchDimensionSuggestsTheBatchSize()
    {
        using var model = Vit("vit_mnist_b1.onnx");
        var e = Assert.Throws<OnnxQuantException>(() => CalibrationDataSource.Open(Calib256, model, new DataSourceOptions { BatchSize = 4 }));
        Assert.Contains("'pixel_values'", e.Message);
        Assert.Contains("--batch-size 1", e.Message);
    }

    [Fact]
    public void ACountBeyondTheDataSaysHowManyThereAre()
    {
        using var model = Vit();
        var e = Assert.Throws<OnnxQuantException>(() => CalibrationDataSource.Open(Calib256, model, new DataSourceOptions { Count = 300 }));
        Assert.Contains("holds 256 samples", e.Message);
    }

    [Fact]
    public void AFolderFeedsEachInputFromItsOwnNpy()
    {
        NpyFiles.WriteFloats(Path_("a.npy"), [5, 3], Enumerable.Range(0, 15).Select(i => (float)i).ToArray());
        NpyFiles.WriteFloats(Path_("b.npy"), [5, 3], Enumerable.Range(0, 15).Select(i => -(float)i).ToArray());
        NpyFiles.WriteInt64s(Path_("labels.npy"), [5], new long[5]);
        using var model = CalibrationTestModels.TwoInputs();
        using var data = CalibrationDataSource.Open(_dir, model, new DataSourceOptions { BatchSize = 2 });
        var batch = data.Batches().Skip(1).First();
        Assert.Equal([6f, 7, 8, 9, 10, 11], batch.Feeds["a"].AsSpan<float>().ToArray());
        Assert.Equal([-6f, -7, -8, -9, -10, -11], batch.Feeds["b"].AsSpan<float>().ToArray());
    }

    [Fact]
    public void AMissingInputNamesItAndWhatTheFolderHas()
    {
        NpyFiles.WriteFloats(Path_("a.npy"), [5, 3], new float[15]);
        using var model = CalibrationTestModels.TwoInputs();
        var e = Assert.Throws<OnnxQuantException>(() => CalibrationDataSource.Open(_dir, model));
        Assert.Contains("Model input 'b' has no calibration data", e.Message);
        Assert.Contains("'a'", e.Message);
    }

    [Fact]
    public void AnNpzFeedsInputsByKey_AndAMissingKeyIsNamed()
    {
        string npz = Path_("data.npz");
        NpyFiles.WriteFloats(Path_("a.npy"), [4, 3], Enumerable.Range(0, 12).Select(i => (float)i).ToArray());
        NpyFiles.WriteFloats(Path_("b.npy"), [4, 3], new float[12]);
        using (var zip = ZipFile.Open(npz, ZipArchiveMode.Create))
        {
            zip.CreateEntryFromFile(Path_("a.npy"), "a.npy", CompressionLevel.Optimal);
            zip.CreateEntryFromFile(Path_("b.npy"), "b.npy", CompressionLevel.NoCompression);
        }
        using var model = CalibrationTestModels.TwoInputs();
        using (var data = CalibrationDataSource.Open(npz, model, new DataSourceOptions { Count = 4, BatchSize = 4 }))
            Assert.Equal(Enumerable.Range(0, 12).Select(i => (float)i), data.Batches().Single().Feeds["a"].AsSpan<float>().ToArray());

        string partial = Path_("partial.npz");
        using (var zip = ZipFile.Open(partial, ZipArchiveMode.Create))
            zip.CreateEntryFromFile(Path_("a.npy"), "a.npy");
        var e = Assert.Throws<OnnxQuantException>(() => CalibrationDataSource.Open(partial, model));
        Assert.Contains("'b'", e.Message);
        Assert.Contains("partial.npz", e.Message);
    }

    [Fact]
    public void AnNpyForAModelWithSeveralInputsAsksForANpzOrFolder()
    {
        NpyFiles.WriteFloats(Path_("a.npy"), [5, 3], new float[15]);
        using var model = CalibrationTestModels.TwoInputs();
        var e = Assert.Throws<OnnxQuantException>(() => CalibrationDataSource.Open(Path_("a.npy"), model));
        Assert.Contains("2 inputs (a, b)", e.Message);
    }

    [Fact]
    public void RandomDataGivesTokenIdsBelowTheVocabularyAndRepeatsPerPass()
    {
        using var model = OnnxReader.Read(SharedPaths.Model("stories260k.onnx"));
        var options = new DataSourceOptions
        {
            Count = 6,
            BatchSize = 2,
            Seed = 5,
            Shapes = ShapeOverrides.Parse(["input_ids=1,16"]),
        };
        using var data = CalibrationDataSource.Open("random", model, options);
        var first = data.Batches().ToList();
        Assert.Equal([2L, 16], first[0].Feeds["input_ids"].Dims);
        var ids = first.SelectMany(b => b.Feeds["input_ids"].AsSpan<long>().ToArray()).ToArray();
        Assert.All(ids, id => Assert.InRange(id, 0, 511));
        Assert.True(ids.Distinct().Count() > 40, "token ids should spread over the vocabulary");
        var again = data.Batches().SelectMany(b => b.Feeds["input_ids"].AsSpan<long>().ToArray()).ToArray();
        Assert.Equal(ids, again);
    }

    [Fact]
    public void RandomDataDefaultsTo256Samples()
    {
        using var model = Vit();
        using var data = CalibrationDataSource.Open("random", model);
        Assert.Equal(256, data.Count);
    }

    [Theory]
    [InlineData("nope=1,2", "'nope', which is not a model input")]
    [InlineData("pixel_values=1,28,28", "rank 3")]
    [InlineData("pixel_values=1,1,28,29", "fixed to 28")]
    public void ShapeOverridesAreChecked(string spec, string message)
    {
        using var model = Vit();
        var e = Assert.Throws<OnnxQuantException>(() =>
            CalibrationDataSource.Open("random", model, new DataSourceOptions { Shapes = ShapeOverrides.Parse([spec]) }));
        Assert.Contains(message, e.Message);
    }

    [Theory]
    [InlineData("x")]
    [InlineData("x=1,a")]
    [InlineData("x=0")]
    public void MalformedShapeOverridesSayTheExpectedForm(string spec) =>
        Assert.Contains("--shape", Assert.Throws<OnnxQuantException>(() => ShapeOverrides.Parse([spec])).Message);

    [Fact]
    public void MissingDataPathIsNamed()
    {
        using var model = Vit();
        var e = Assert.Throws<OnnxQuantException>(() => CalibrationDataSource.Open(Path_("absent.npy"), model));
        Assert.Contains("absent.npy does not exist", e.Message);
    }
}
