using OnnxQuant.DemoModels;
using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Tests.Cli;

namespace OnnxQuant.Tests.Quantization.WeightOnly;

/// <summary>
/// quantize-weights on a model whose weights are mapped from external data (one that may be larger than memory):
/// the same bytes as in memory, and nothing of the model's size left in managed memory — the quantized weights wait
/// for the writer in the scratch file, whatever the number of layers (docs/streaming.md).
/// </summary>
public class StreamingQuantizeWeightsTests
{
    /// <summary>The 2.7B benchmark model's proportions (ffn ≈ 2.7 × width), scaled down.</summary>
    private static LlamaConfig Shape(int layers) => new(64, layers, 4, 4, 176, 256);

    private static readonly OnnxWriteOptions External = new() { ExternalData = true };

    private static string WriteModel(ScratchFolder dir, int layers, bool external)
    {
        string path = dir.File("in.onnx");
        using var model = LlamaGenerator.Generate(Shape(layers), seed: 3);
        OnnxWriter.Write(model, path, external ? External : null);
        return path;
    }

    [Theory]
    [InlineData("w4a16")]
    [InlineData("w8a16")]
    public void AMappedModel_IsQuantizedToTheSameBytesAsTheSameModelInMemory(string preset)
    {
        using var inline = new ScratchFolder();
        using var mapped = new ScratchFolder();
        var options = new QuantizeOptions { Recipe = RecipeSource.Preset(preset), ExternalData = true };
        Quantizer.Quantize(WriteModel(inline, 3, external: false), inline.File("out.onnx"), options);
        Quantizer.Quantize(WriteModel(mapped, 3, external: true), mapped.File("out.onnx"), options);

        Assert.Equal(File.ReadAllBytes(inline.File("out.onnx")), File.ReadAllBytes(mapped.File("out.onnx")));
        Assert.Equal(File.ReadAllBytes(inline.File("out.onnx.data")), File.ReadAllBytes(mapped.File("out.onnx.data")));
        Assert.Equal(["in.onnx", "in.onnx.data", "out.onnx", "out.onnx.data"], mapped.Entries());
    }

    [Fact]
    public void GptqFromASavedStatisticsFile_OnAMappedModel_WritesTheSameBytesAsInMemory()
    {
        // GPTQ reads each layer's XᵀX from the statistics file; the rounding itself then streams like RTN.
        using var inline = new ScratchFolder();
        using var mapped = new ScratchFolder();
        string inlineModel = WriteModel(inline, 2, external: false), mappedModel = WriteModel(mapped, 2, external: true);
        var calibrate = Onnxquant.Run("calibrate", inlineModel, "--data", "random", "--shape", "input_ids=1,16", "--count", "4",
            "--recipe", "w4a16-gptq", "--out", inline.File("stats.json"));
        Assert.True(calibrate.ExitCode == 0, calibrate.ToString());
        foreach (var (model, dir) in new[] { (inlineModel, inline), (mappedModel, mapped) })
        {
            var run = Onnxquant.Run(model, dir.File("out.onnx"), "--recipe", "w4a16-gptq", "--load-calib", inline.File("stats.json"), "--external-data");
            Assert.True(run.ExitCode == 0, run.ToString());
        }
        Assert.Equal(File.ReadAllBytes(inline.File("out.onnx")), File.ReadAllBytes(mapped.File("out.onnx")));
        Assert.Equal(File.ReadAllBytes(inline.File("out.onnx.data")), File.ReadAllBytes(mapped.File("out.onnx.data")));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(8)]
    public void AfterQuantizingAMappedModel_NoTensorTheWriterWouldPutInExternalDataIsHeldInMemory(int layers)
    {
        using var dir = new ScratchFolder();
        using var model = OnnxReader.Read(WriteModel(dir, layers, external: true));
        long weightBytes = OnnxWriter.TotalTensorBytes(model);
        Quantizer.Quantize(model, dir.File("out.onnx"), new QuantizeOptions { Recipe = RecipeSource.Preset("w4a16"), ExternalData = true });

        // Live bytes in managed memory: constants neither mapped nor in the scratch file. Below the writer's threshold
        // (1 KiB) a tensor is written inline anyway; at or above it, holding it would grow with the model.
        var held = model.Graph.Constants.Select(c => c.Const!)
            .Where(t => t.Storage is not (MappedTensorStorage or ScratchTensorStorage) && t.ByteLength >= OnnxWriteOptions.Default.SizeThreshold)
            .Sum(t => t.ByteLength);
        Assert.Equal(0, held);
        // What the pass made went to disk: every layer's packed weights and scales (≥ 1/8 of its float weights).
        Assert.True(model.Scratch.Length > weightBytes / 16, $"{model.Scratch.Length} scratch bytes for {weightBytes} bytes of weights");
        Assert.Contains(model.Graph.Nodes, n => n.OpType == "MatMulNBits");
    }

    [Fact]
    public void AModelInMemory_UsesNoScratchFile()
    {
        using var model = LlamaGenerator.Generate(Shape(2), seed: 3);
        using var dir = new ScratchFolder();
        Quantizer.Quantize(model, dir.File("out.onnx"), new QuantizeOptions { Recipe = RecipeSource.Preset("w4a16") });
        Assert.False(model.Streams);
        Assert.DoesNotContain(model.Graph.Constants, c => c.Const!.Storage is ScratchTensorStorage);
    }

    [Fact]
    public void AMappedModelWhoseQuantizedWeightsExceedTheHeapLimit_IsQuantizedUnderIt()
    {
        // 12 layers of width 384 (ffn 1024): 21.6M weights, 87 MB of floats. Holding the rounded codes (a byte per
        // weight) and the packed weights of every layer, as the pass did before it streamed, needs > 32 MB, and that
        // run fails under this 32 MB heap limit (measured: exit 70, out of memory); streaming holds about one layer.
        using var dir = new ScratchFolder();
        using (var model = LlamaGenerator.Generate(new LlamaConfig(384, 12, 6, 6, 1024, 512), seed: 1))
            OnnxWriter.Write(model, dir.File("big.onnx"), External);
        var result = Onnxquant.RunProcess(dir.Path, new Dictionary<string, string> { ["DOTNET_GCHeapHardLimit"] = "0x2000000" },
            "big.onnx", "out.onnx", "--recipe", "w4a16", "--external-data");
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(["big.onnx", "big.onnx.data", "out.onnx", "out.onnx.data"], dir.Entries());
    }
}
