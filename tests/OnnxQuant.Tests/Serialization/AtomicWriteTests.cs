using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Tests.Cli;

namespace OnnxQuant.Tests.Serialization;

/// <summary>A write that fails after it started leaves neither an output nor a temporary file.</summary>
public class AtomicWriteTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ConvertThatHitsTheFileSizeLimitMidWrite_LeavesNoOutputAndNoTemporaryFile(bool externalData)
    {
        // ulimit -f caps every file this process writes at 2 MB; the 10 MB output fails part-way with EFBIG.
        // SIGXFSZ is ignored so the write fails with an error instead of killing the process, and W^X is off because
        // the runtime's double-mapped code memory is a file that the limit would also stop.
        using var dir = new ScratchFolder();
        string[] args = externalData
            ? ["convert", SharedPaths.Model("ppocr_v4_rec.onnx"), "out.onnx", "--external-data"]
            : ["convert", SharedPaths.Model("ppocr_v4_rec.onnx"), "out.onnx"];
        var result = Onnxquant.RunProcessInShell(dir.Path, "trap '' XFSZ; ulimit -f 2048",
            new Dictionary<string, string> { ["DOTNET_EnableWriteXorExecute"] = "0" }, args);

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.StartsWith("error: cannot write out.onnx", result.Stderr);
        Assert.DoesNotContain("   at ", result.Stderr);
        Assert.Empty(dir.Entries());
    }

    [Fact]
    public void WriterThatFailsWhileStreamingATensor_LeavesNoFiles()
    {
        using var dir = new ScratchFolder();
        using var model = ModelWithFailingTensor();
        var error = Assert.Throws<IOException>(() =>
            OnnxWriter.Write(model, dir.File("m.onnx"), new OnnxWriteOptions { ExternalData = true }));
        Assert.Equal(FailingStorage.Message, error.Message);
        Assert.Empty(dir.Entries());
    }

    [Fact]
    public void WriterThatCannotMoveTheModelIntoPlace_RemovesTheDataFileItAlreadyMoved()
    {
        // The model's final path is a folder: the data file is complete and renamed first, then the model's rename fails.
        using var dir = new ScratchFolder();
        Directory.CreateDirectory(dir.File("m.onnx"));
        File.WriteAllText(Path.Combine(dir.File("m.onnx"), "keep.txt"), "not empty");
        using var model = OnnxReader.Read(SharedPaths.Model("vit_mnist.onnx"));

        Assert.ThrowsAny<IOException>(() => OnnxWriter.Write(model, dir.File("m.onnx"), new OnnxWriteOptions { ExternalData = true }));
        Assert.Equal(["m.onnx"], dir.Entries());
        Assert.Equal(["keep.txt"], Directory.EnumerateFileSystemEntries(dir.File("m.onnx")).Select(Path.GetFileName));
    }

    /// <summary>y = a + b where b's bytes fail half-way through being written (as a dying disk or network share would).</summary>
    private static Model ModelWithFailingTensor()
    {
        const int elements = 1 << 20;
        var graph = new Graph { Name = "failing" };
        var x = graph.AddInput("x", new TensorType(DataType.Float, new Shape(elements)));
        var a = graph.AddConstant(Tensor.FromFloats(new float[elements], elements), "a");
        var b = graph.AddConstant(new Tensor(DataType.Float, [elements], new FailingStorage(elements * 4L)), "b");
        var sum = graph.Append(new Node("Add", [x, a], outputNames: ["s"]));
        var y = graph.Append(new Node("Add", [sum.Output, b], outputNames: ["y"]));
        graph.Outputs.Add(y.Output);
        var model = new Model(graph) { IrVersion = 10 };
        model.SetOpset("", 21);
        return model;
    }

    private sealed class FailingStorage(long length) : TensorStorage
    {
        public const string Message = "Simulated device failure while reading tensor bytes.";

        public override long Length => length;
        public override ReadOnlyMemory<byte> Memory => throw new IOException(Message);

        public override void CopyTo(Stream destination)
        {
            destination.Write(new byte[length / 2]);
            throw new IOException(Message);
        }
    }
}
