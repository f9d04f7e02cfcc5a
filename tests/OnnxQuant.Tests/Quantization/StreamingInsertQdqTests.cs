using OnnxQuant.DemoModels;
using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;

namespace OnnxQuant.Tests.Quantization;

/// <summary>
/// Static <c>w8a8</c> (calibrate, then insert-qdq) on a model whose weights are mapped from external data: the same
/// bytes as the same model in memory, and the int8 weights, scales and biases wait for the writer in the scratch file
/// instead of memory, whatever the number of layers (docs/streaming.md).
/// </summary>
public class StreamingInsertQdqTests
{
    /// <summary>The 2.7B benchmark model's proportions (ffn ≈ 2.7 × width), scaled down.</summary>
    private static LlamaConfig Shape(int layers) => new(64, layers, 4, 4, 176, 256);

    private static readonly OnnxWriteOptions External = new() { ExternalData = true };

    private static QuantizeOptions W8a8(string preset = "w8a8") => new()
    {
        Recipe = RecipeSource.Preset(preset),
        ExternalData = true,
        Calibration = CalibrationData.FromPath("random") with { Count = 3, Shapes = new Dictionary<string, long[]> { ["input_ids"] = [1, 12] } },
    };

    private static string WriteModel(ScratchFolder dir, int layers, bool external)
    {
        string path = dir.File("in.onnx");
        using var model = LlamaGenerator.Generate(Shape(layers), seed: 5);
        OnnxWriter.Write(model, path, external ? External : null);
        return path;
    }

    [Theory]
    [InlineData("w8a8")]
    [InlineData("w8a8-dynamic")]
    public void AMappedModel_IsQuantizedToTheSameBytesAsTheSameModelInMemory(string preset)
    {
        using var inline = new ScratchFolder();
        using var mapped = new ScratchFolder();
        Quantizer.Quantize(WriteModel(inline, 3, external: false), inline.File("out.onnx"), W8a8(preset));
        Quantizer.Quantize(WriteModel(mapped, 3, external: true), mapped.File("out.onnx"), W8a8(preset));

        Assert.Equal(File.ReadAllBytes(inline.File("out.onnx")), File.ReadAllBytes(mapped.File("out.onnx")));
        Assert.Equal(File.ReadAllBytes(inline.File("out.onnx.data")), File.ReadAllBytes(mapped.File("out.onnx.data")));
        Assert.Equal(["in.onnx", "in.onnx.data", "out.onnx", "out.onnx.data"], mapped.Entries());
    }

    [Fact]
    public void AMappedModel_IsWrittenWithExternalData_WithoutBeingAskedTo()
    {
        // An inline output is built whole in memory by the protobuf library; one with external data is streamed.
        using var dir = new ScratchFolder();
        var result = Quantizer.Quantize(WriteModel(dir, 2, external: true), dir.File("out.onnx"), W8a8() with { ExternalData = false });
        Assert.Equal(dir.File("out.onnx.data"), result.ExternalDataPath);
        Assert.Equal(["in.onnx", "in.onnx.data", "out.onnx", "out.onnx.data"], dir.Entries());
    }

    [Theory]
    [InlineData(2)]
    [InlineData(8)]
    public void AfterW8a8OfAMappedModel_NoTensorTheWriterWouldPutInExternalDataIsHeldInMemory(int layers)
    {
        using var dir = new ScratchFolder();
        using var model = OnnxReader.Read(WriteModel(dir, layers, external: true));
        long weightBytes = OnnxWriter.TotalTensorBytes(model);
        Quantizer.Quantize(model, dir.File("out.onnx"), W8a8());

        // Live bytes in managed memory: constants neither mapped nor in the scratch file. Below the writer's threshold
        // (1 KiB) a tensor is written inline anyway; at or above it, holding it would grow with the model.
        var held = model.Graph.Constants.Select(c => c.Const!)
            .Where(t => t.Storage is not (MappedTensorStorage or ScratchTensorStorage) && t.ByteLength >= OnnxWriteOptions.Default.SizeThreshold)
            .Select(t => t.ByteLength).ToList();
        Assert.Empty(held);
        // What insert-qdq made went to disk: every MatMul's int8 weight (a quarter of its float bytes; the float
        // embedding table stays mapped).
        Assert.True(model.Scratch.Length > weightBytes / 8, $"{model.Scratch.Length} scratch bytes for {weightBytes} bytes of weights");
        Assert.Contains(model.Graph.Constants, c => c.Const is { ElementType: DataType.Int8, Storage: ScratchTensorStorage });
    }
}
