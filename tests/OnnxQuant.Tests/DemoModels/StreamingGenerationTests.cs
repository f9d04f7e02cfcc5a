using OnnxQuant.DemoModels;
using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;

namespace OnnxQuant.Tests.DemoModels;

/// <summary>
/// Generated weights are made lazily (<see cref="SeededWeights"/>): written with external data they stream from the
/// random sequence into the file and are never held; read in memory, in any order, they are the same bytes.
/// </summary>
public class StreamingGenerationTests
{
    /// <summary>The 2.7B benchmark shape's proportions, scaled down (docs/streaming.md).</summary>
    private static readonly LlamaConfig Small = new(64, 3, 4, 4, 176, 256);

    private static readonly OnnxWriteOptions External = new() { ExternalData = true };

    private static (byte[] Model, byte[] Data) Write(Model model, ScratchFolder dir)
    {
        OnnxWriter.Write(model, dir.File("m.onnx"), External);
        return (File.ReadAllBytes(dir.File("m.onnx")), File.ReadAllBytes(dir.File("m.onnx.data")));
    }

    private static IEnumerable<GeneratedWeightStorage> Generated(Model model) =>
        model.Graph.Constants.Select(c => c.Const!.Storage).OfType<GeneratedWeightStorage>();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void StreamedWeights_AreTheBytesOfWeightsMadeInMemory_InAnyOrder(bool float16)
    {
        var c = Small with { Float16 = float16 };
        using var streamedDir = new ScratchFolder();
        using var inMemoryDir = new ScratchFolder();
        using var streamed = LlamaGenerator.Generate(c, seed: 5);
        using var inMemory = LlamaGenerator.Generate(c, seed: 5);
        // Read backwards: the last weight first makes every pending one before it, in sequence order.
        foreach (var v in inMemory.Graph.Constants.Reverse()) _ = v.Const!.RawData.Length > 0 ? v.Const.RawData.Span[0] : 0;
        Assert.All(Generated(inMemory), s => Assert.True(s.Bytes is not null));

        var a = Write(streamed, streamedDir);
        var b = Write(inMemory, inMemoryDir);

        Assert.Equal(b.Model, a.Model);
        Assert.Equal(b.Data, a.Data);
        // Streaming kept none of those it wrote to the data file (tensors under the 1 KiB threshold are written inline,
        // which needs their bytes in memory).
        var external = Generated(streamed).Where(s => s.Length >= OnnxWriteOptions.Default.SizeThreshold).ToList();
        Assert.NotEmpty(external);
        Assert.All(external, s => Assert.Null(s.Bytes));
    }

    [Fact]
    public void AWeightReadAfterItWasStreamed_IsReplayedFromTheSeed()
    {
        using var dir = new ScratchFolder();
        using var model = LlamaGenerator.Generate(Small, seed: 9);
        OnnxWriter.Write(model, dir.File("m.onnx"), External);
        using var written = OnnxReader.Read(dir.File("m.onnx"));

        var pairs = model.Graph.Constants.Zip(written.Graph.Constants).Where(p => p.First.Const!.Storage is GeneratedWeightStorage).ToList();
        Assert.True(pairs.Count >= 3 * 9, $"{pairs.Count} generated weights");
        // Middle, then first, then last: each replayed independently of the others.
        foreach (var (generated, read) in new[] { pairs[pairs.Count / 2], pairs[0], pairs[^1] })
            Assert.True(generated.Const!.ContentEquals(read.Const!), $"{generated.Name}");
    }

    [Fact]
    public void InlineWriting_IsUnchanged_ForAModelUnderTheExternalDataLimit()
    {
        // The default (inline) path needs every weight in memory for the protobuf: made on demand, same bytes.
        using var a = LlamaGenerator.Generate(Small, seed: 2);
        using var b = LlamaGenerator.Generate(Small, seed: 2);
        foreach (var v in b.Graph.Constants) _ = v.Const!.RawData;
        Assert.Equal(OnnxWriter.ToBytes(b), OnnxWriter.ToBytes(a));
    }
}
