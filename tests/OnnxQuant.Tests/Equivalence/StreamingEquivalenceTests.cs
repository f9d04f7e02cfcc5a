using OnnxQuant.DemoModels;
using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;

namespace OnnxQuant.Tests.Equivalence;

/// <summary>
/// The equivalence transforms (smooth-quant, awq, rotate) on a model whose weights are mapped from external data:
/// each rewritten weight is read from the mapping (pages released once read) and its replacement waits for the writer
/// in the scratch file (<see cref="Graph.AddWeight"/>), so the output is the in-memory path's bytes and no tensor the
/// writer would put in external data is left in memory (docs/streaming.md).
/// </summary>
public class StreamingEquivalenceTests
{
    /// <summary>The 2.7B benchmark model's proportions (ffn ≈ 2.7 × width), scaled down.</summary>
    private static LlamaConfig Shape(int layers) => new(64, layers, 4, 4, 176, 256);

    private static QuantizeOptions Options(string preset) => new()
    {
        Recipe = RecipeSource.Preset(preset),
        ExternalData = true,
        Calibration = CalibrationData.FromPath("random") with { Count = 3, Shapes = new Dictionary<string, long[]> { ["input_ids"] = [1, 12] } },
    };

    private static string WriteModel(ScratchFolder dir, int layers, bool external)
    {
        string path = dir.File("in.onnx");
        using var model = LlamaGenerator.Generate(Shape(layers), seed: 7);
        OnnxWriter.Write(model, path, external ? new OnnxWriteOptions { ExternalData = true } : null);
        return path;
    }

    [Theory]
    [InlineData("w8a8-smooth")]
    [InlineData("w4a16-awq")]
    [InlineData("w4a16-rotated")]
    public void AMappedModel_IsTransformedToTheSameBytesAsInMemory_AndKeepsNoLargeTensorInMemory(string preset)
    {
        using var inline = new ScratchFolder();
        using var mapped = new ScratchFolder();
        Quantizer.Quantize(WriteModel(inline, 3, external: false), inline.File("out.onnx"), Options(preset));
        using var model = OnnxReader.Read(WriteModel(mapped, 3, external: true));
        Quantizer.Quantize(model, mapped.File("out.onnx"), Options(preset));

        Assert.Equal(File.ReadAllBytes(inline.File("out.onnx")), File.ReadAllBytes(mapped.File("out.onnx")));
        Assert.Equal(File.ReadAllBytes(inline.File("out.onnx.data")), File.ReadAllBytes(mapped.File("out.onnx.data")));
        // Constants neither mapped nor in the scratch file, of a size the writer puts in external data: none.
        var held = model.Graph.Constants
            .Where(c => c.Const!.Storage is not (MappedTensorStorage or ScratchTensorStorage) && c.Const.ByteLength >= OnnxWriteOptions.Default.SizeThreshold)
            .Select(c => $"{c.Name} ({c.Const!.ByteLength} bytes)").ToList();
        Assert.Empty(held);
        Assert.True(model.Scratch.Length > 0);
    }
}
