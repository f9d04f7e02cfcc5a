using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Passes;
using OnnxQuant.Runtime.DataSources;
using OnnxQuant.Passes.Recipes;
using OnnxQuant.Runtime.Calibration;
using OnnxQuant.Tests.Cli;

namespace OnnxQuant.Tests.Api;

/// <summary>
/// The library entry point <see cref="Quantizer"/>, called as the README shows, against the <c>onnxquant</c> command
/// with the same data: the files must agree byte for byte except the provenance entry that names the data source.
/// </summary>
public class QuantizerTests
{
    private const int SampleCount = 32;
    private static string VitMnist => SharedPaths.Model("vit_mnist.onnx");
    private static string Calib256 => Path.Combine(SharedPaths.Data, "mnist", "calib_256.npy");

    [Fact]
    public void Quantize_FromInMemorySamples_WritesTheCommandLinesBytes_ExceptTheDataSourceInTheProvenance()
    {
        using var folder = new ScratchFolder();
        float[][] images = FirstImages(SampleCount);   // what a .NET pipeline holds: 28×28 pixels per image
        string output = folder.File("vit.w8a8.onnx");
        var cancellationToken = CancellationToken.None;
        var reports = new System.Collections.Concurrent.ConcurrentBag<CalibrationProgress>();

        // As in README.md ("Library API"), with the paths of this test and the progress kept to be checked.
        var samples = images.Select(pixels => new Dictionary<string, Tensor>
        {
            ["pixel_values"] = Tensor.FromFloats(pixels, 1, 1, 28, 28),
        });
        var result = Quantizer.Quantize(VitMnist, output, new QuantizeOptions
        {
            Recipe = RecipeSource.Preset("w8a8"),
            Calibration = CalibrationData.FromSamples(samples),
            Seed = 0,
            Progress = new Progress<CalibrationProgress>(p => reports.Add(p)),
        }, cancellationToken);

        var cli = Onnxquant.Run(VitMnist, folder.File("cli.onnx"), "--recipe", "w8a8", "--data", Calib256, "--count", $"{SampleCount}");
        Assert.True(cli.ExitCode == 0, cli.ToString());

        var (apiRest, apiMetadata) = SplitMetadata(File.ReadAllBytes(output));
        var (cliRest, cliMetadata) = SplitMetadata(File.ReadAllBytes(folder.File("cli.onnx")));
        Assert.True(apiRest.AsSpan().SequenceEqual(cliRest), $"the models differ outside metadata_props ({apiRest.Length} vs {cliRest.Length} bytes)");
        Assert.Equal(cliMetadata.Count, apiMetadata.Count);
        Assert.Equal(Without("onnxquant.calibration", cliMetadata), Without("onnxquant.calibration", apiMetadata));
        Assert.Equal($"{SampleCount} samples of calib_256.npy, 50 tensors", cliMetadata["onnxquant.calibration"]);
        Assert.Equal($"{SampleCount} samples of in-memory samples, 50 tensors", apiMetadata["onnxquant.calibration"]);

        // The result: what was written, what calibration saw, the counters --stats prints.
        Assert.Equal(Path.GetFullPath(output), result.OutputPath);
        Assert.Equal(new FileInfo(output).Length, result.BytesWritten);
        Assert.Equal(SampleCount, result.Calibration!.Samples);
        Assert.Equal("in-memory samples", result.Calibration.Data);
        Assert.Equal(50, result.Counters["calibrate.tensors"]);
        Assert.True(result.Counters["insert-qdq.quantized"] > 0);
        Assert.True(result.After.Ops.GetValueOrDefault("QuantizeLinear") > 0 && result.Before.Ops.GetValueOrDefault("QuantizeLinear") == 0);
        Assert.Equal(apiMetadata.OrderBy(e => e.Key, StringComparer.Ordinal), result.Provenance.OrderBy(e => e.Key, StringComparer.Ordinal));
        Assert.Contains(result.Pipeline.Runs, r => r.Pass == "calibrate");

        // Progress<T> posts to the thread pool: wait for the final report rather than assume it arrived.
        Assert.True(SpinWait.SpinUntil(() => reports.Any(p => p.TotalSamplesDone == SampleCount && p.TotalSamples == SampleCount), TimeSpan.FromSeconds(30)),
            $"no final progress report among {reports.Count}");
    }

    /// <summary>The README's example makes the calls the test above makes, so the two cannot drift apart unnoticed.</summary>
    [Fact]
    public void ReadmeExample_MakesTheCallsTheTestRuns()
    {
        string readme = File.ReadAllText(Path.Combine(SharedPaths.RepoRoot, "README.md"));
        int section = readme.IndexOf("## Library API", StringComparison.Ordinal);
        Assert.True(section >= 0, "README.md has no 'Library API' section");
        int start = readme.IndexOf("```csharp", section, StringComparison.Ordinal);
        string example = readme[start..readme.IndexOf("```", start + 9, StringComparison.Ordinal)];
        string test = File.ReadAllText(Path.Combine(SharedPaths.RepoRoot, "tests", "OnnxQuant.Tests", "Api", "QuantizerTests.cs"));
        foreach (string line in new[]
        {
            "var samples = images.Select(pixels => new Dictionary<string, Tensor>",
            "[\"pixel_values\"] = Tensor.FromFloats(pixels, 1, 1, 28, 28),",
            "new QuantizeOptions",
            "Recipe = RecipeSource.Preset(\"w8a8\"),",
            "Calibration = CalibrationData.FromSamples(samples),",
            "Seed = 0,",
            "Progress = new Progress<CalibrationProgress>(p =>",
            "}, cancellationToken);",
        })
        {
            Assert.Contains(line, example);
            Assert.Contains(line, test);
        }
        Assert.Contains("var result = Quantizer.Quantize(\"vit_mnist.onnx\", \"vit.w8a8.onnx\", new QuantizeOptions", example);
        Assert.Contains("var result = Quantizer.Quantize(VitMnist, output, new QuantizeOptions", test);
    }

    [Fact]
    public void Quantize_WithRecipeText_RecordsTheTextsHash_AndReportsRecipeMistakesWithTheirLine()
    {
        using var folder = new ScratchFolder();
        const string yaml = "name: calibrate-only\npasses:\n  - calibrate\n";
        var result = Quantizer.Quantize(VitMnist, folder.File("a.onnx"), new QuantizeOptions
        {
            Recipe = RecipeSource.Yaml(yaml),
            Calibration = CalibrationData.FromPath(Calib256) with { Count = 4 },
        });
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(yaml))),
            result.Provenance.Single(e => e.Key == "onnxquant.recipe_sha256").Value);
        Assert.Equal("4 samples of calib_256.npy, 50 tensors", result.Provenance.Single(e => e.Key == "onnxquant.calibration").Value);

        var mistake = Assert.Throws<RecipeException>(() => Quantizer.Quantize(VitMnist, folder.File("b.onnx"),
            new QuantizeOptions { Recipe = RecipeSource.Yaml("name: typo\npasses:\n  - calibrat\n", "mine.yaml") }));
        Assert.StartsWith("mine.yaml:3:", mistake.Message);
        Assert.False(File.Exists(folder.File("b.onnx")));
    }

    [Fact]
    public void Quantize_StaticRecipeWithoutData_ThrowsTheCommandLinesMessage_AndWritesNothing()
    {
        using var folder = new ScratchFolder();
        var error = Assert.Throws<OnnxQuantException>(() => Quantizer.Quantize(VitMnist, folder.File("a.onnx"), new QuantizeOptions { Recipe = "w8a8" }));
        var cli = Onnxquant.Run(VitMnist, folder.File("b.onnx"), "--recipe", "w8a8");
        Assert.Equal(2, cli.ExitCode);
        Assert.Equal($"error: {error.Message}", cli.Stderr.TrimEnd());
        Assert.Empty(Directory.EnumerateFileSystemEntries(folder.Path));
    }

    [Fact]
    public void Quantize_SamplesOfDifferentShapes_SaysWhichSample()
    {
        using var folder = new ScratchFolder();
        var samples = new[]
        {
            new Dictionary<string, Tensor> { ["pixel_values"] = Tensor.FromFloats(new float[784], 1, 1, 28, 28) },
            new Dictionary<string, Tensor> { ["pixel_values"] = Tensor.FromFloats(new float[784], 1, 28, 28) },
        };
        // Found when calibrate opens the data, so the error names the pass and recipe step, as the command line's do.
        var error = Assert.Throws<PassFailedException>(() => Quantizer.Quantize(VitMnist, folder.File("a.onnx"),
            new QuantizeOptions { Recipe = RecipeSource.Preset("w8a8"), Calibration = CalibrationData.FromSamples(samples) }));
        Assert.True(error.IsUserError);
        Assert.Contains("in pass 'calibrate'", error.Message);
        Assert.Contains("Sample 1 of in-memory samples gives 'pixel_values' as float[1,28,28], but sample 0 gives float[1,1,28,28]", error.Message);
        Assert.False(File.Exists(folder.File("a.onnx")));
    }

    [Fact]
    public void Quantize_Cancelled_ThrowsAndWritesNothing()
    {
        using var folder = new ScratchFolder();
        using var cancellation = new CancellationTokenSource();
        cancellation.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => Quantizer.Quantize(VitMnist, folder.File("a.onnx"),
            new QuantizeOptions { Recipe = "w8a8", Calibration = CalibrationData.FromPath(Calib256) with { Count = 4 } }, cancellation.Token));
        Assert.Empty(Directory.EnumerateFileSystemEntries(folder.Path));
    }

    [Fact]
    public void Quantize_LoadedModel_IsQuantizedInPlace_AndWritten()
    {
        using var folder = new ScratchFolder();
        using var model = OnnxReader.Read(VitMnist);
        var passes = new List<PassRun>();
        var result = Quantizer.Quantize(model, folder.File("a.onnx"), new QuantizeOptions
        {
            Recipe = RecipeSource.Preset("w8a8-dynamic"),
            PassProgress = new Immediate<PassRun>(passes.Add),
        });
        Assert.Null(result.Before.FileBytes);
        Assert.Contains(model.Graph.Nodes, n => n.OpType == "DynamicQuantizeLinear" || n.OpType == "DynamicQuantizeMatMul");
        Assert.Equal(result.Pipeline.Runs, passes);
        Assert.True(File.Exists(folder.File("a.onnx")));
    }

    private sealed class Immediate<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }

    /// <summary>The first <paramref name="count"/> images of calib_256.npy ([256,1,28,28] float32) as float arrays.</summary>
    private static float[][] FirstImages(int count)
    {
        using var npy = NpyArray.Open(Calib256);
        var images = new float[count][];
        for (int i = 0; i < count; i++)
        {
            images[i] = new float[npy.RowBytes / sizeof(float)];
            npy.ReadRows(i, 1, System.Runtime.InteropServices.MemoryMarshal.AsBytes(images[i].AsSpan()));
        }
        return images;
    }

    private static Dictionary<string, string> Without(string key, Dictionary<string, string> entries) =>
        entries.Where(e => e.Key != key).ToDictionary(StringComparer.Ordinal);

    /// <summary>
    /// Splits a serialized ModelProto into everything but its <c>metadata_props</c> (field 14), byte for byte as in the
    /// file, and the metadata entries (key → value), so that two files can be compared outside the provenance.
    /// </summary>
    private static (byte[] Body, Dictionary<string, string> Metadata) SplitMetadata(byte[] file)
    {
        const int MetadataProps = 14;
        var rest = new MemoryStream();
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        int position = 0;
        while (position < file.Length)
        {
            int start = position;
            ulong tag = Varint(file, ref position);
            int wireType = (int)(tag & 7);
            int payload = position;
            switch (wireType)
            {
                case 0: Varint(file, ref position); break;
                case 1: position += 8; break;
                case 2:
                    int length = checked((int)Varint(file, ref position));
                    payload = position;
                    position += length;
                    break;
                case 5: position += 4; break;
                default: throw new InvalidDataException($"Unexpected wire type {wireType} at byte {start}.");
            }
            if ((int)(tag >> 3) == MetadataProps && wireType == 2)
            {
                var (key, value) = Entry(file.AsSpan(payload, position - payload));
                metadata[key] = value;
            }
            else rest.Write(file, start, position - start);
        }
        return (rest.ToArray(), metadata);
    }

    /// <summary>A StringStringEntryProto: key (field 1) and value (field 2).</summary>
    private static (string Key, string Value) Entry(ReadOnlySpan<byte> entry)
    {
        byte[] bytes = entry.ToArray();
        string key = "", value = "";
        int position = 0;
        while (position < bytes.Length)
        {
            ulong tag = Varint(bytes, ref position);
            int length = checked((int)Varint(bytes, ref position));
            string text = System.Text.Encoding.UTF8.GetString(bytes, position, length);
            position += length;
            if (tag >> 3 == 1) key = text;
            else if (tag >> 3 == 2) value = text;
        }
        return (key, value);
    }

    private static ulong Varint(byte[] bytes, ref int position)
    {
        ulong value = 0;
        for (int shift = 0; ; shift += 7)
        {
            byte b = bytes[position++];
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80) return value;
        }
    }
}
