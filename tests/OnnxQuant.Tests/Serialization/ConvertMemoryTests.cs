using System.Globalization;
using Google.Protobuf;
using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Onnx.Proto;
using OnnxQuant.Tests.Cli;

namespace OnnxQuant.Tests.Serialization;

/// <summary>
/// Gigabytes of weights pass through <c>convert</c> in a process whose managed heap is capped far below their size:
/// proof that external data is mapped and streamed, never loaded. The data file is sparse (no disk used to make it).
/// </summary>
public class ConvertMemoryTests
{
    private const long TensorBytes = 1L << 30;
    private const int TensorCount = 3;
    private static readonly Dictionary<string, string> HeapLimit256MB = new() { ["DOTNET_GCHeapHardLimit"] = "0x10000000" };

    [Fact]
    public void ConvertingThreeGigabytesOfExternalData_SucceedsUnderA256MegabyteHeapLimit()
    {
        // The input is sparse (no blocks), on disk: a sparse file in tmpfs would get real pages when read. The output's
        // 3 GB are real bytes, written to RAM when there is room (seconds instead of a minute of disk writes).
        using var input = new ScratchFolder();
        using var output = ScratchFolder.InMemoryIfRoom(TensorCount * TensorBytes);
        WriteBigModel(input);

        var result = Onnxquant.RunProcess(input.Path, HeapLimit256MB, "convert", "big.onnx", output.File("out.onnx"), "--external-data");
        try
        {
            Assert.True(result.ExitCode == 0, result.ToString());
            var proto = OnnxReader.ReadProto(output.File("out.onnx"));
            Assert.Equal(TensorCount, proto.Graph.Initializer.Count);
            foreach (var t in proto.Graph.Initializer)
            {
                Assert.Equal(TensorProto.Types.DataLocation.External, t.DataLocation);
                Assert.Equal("out.onnx.data", t.ExternalData.Single(e => e.Key == "location").Value);
                Assert.Equal(TensorBytes, long.Parse(t.ExternalData.Single(e => e.Key == "length").Value, CultureInfo.InvariantCulture));
            }
            Assert.True(new FileInfo(output.File("out.onnx.data")).Length >= TensorCount * TensorBytes);
            Assert.Equal(["big.onnx", "big.onnx.data"], input.Entries());
            Assert.Equal(["out.onnx", "out.onnx.data"], output.Entries());
        }
        finally
        {
            // 3 GB of real memory or disk: give it back now.
            File.Delete(output.File("out.onnx.data"));
        }
    }

    [Fact]
    public void TheHeapLimitBites_WhenTensorsAreCopiedIntoManagedMemory()
    {
        // Control for the test above: a threshold above the tensor size makes the writer copy each 1 GiB tensor into
        // the protobuf, which cannot fit in 256 MB. So the limit is really in force in the child process.
        using var dir = new ScratchFolder();
        WriteBigModel(dir);
        var result = Onnxquant.RunProcess(dir.Path, HeapLimit256MB, "convert", "big.onnx", "out.onnx", "--external-data",
            "--size-threshold", (2 * TensorBytes).ToString(CultureInfo.InvariantCulture));
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("OutOfMemory", result.Stderr);
        Assert.Equal(["big.onnx", "big.onnx.data"], dir.Entries());
    }

    /// <summary>Three float tensors of 1 GiB each in a sparse data file big.onnx.data.</summary>
    private static void WriteBigModel(ScratchFolder dir)
    {
        long elements = TensorBytes / 4;
        var graph = new GraphProto { Name = "big" };
        for (int i = 0; i < TensorCount; i++)
        {
            var w = new TensorProto { Name = $"w{i}", DataType = (int)DataType.Float, DataLocation = TensorProto.Types.DataLocation.External };
            w.Dims.Add(elements);
            w.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = "big.onnx.data" });
            w.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = (i * TensorBytes).ToString(CultureInfo.InvariantCulture) });
            w.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = TensorBytes.ToString(CultureInfo.InvariantCulture) });
            graph.Initializer.Add(w);
        }
        graph.Input.Add(ExternalDataTests.FloatValue("x", elements));
        graph.Output.Add(ExternalDataTests.FloatValue("y", elements));
        var node = new NodeProto { OpType = "Add" };
        node.Input.Add("x");
        node.Input.Add("w0");
        node.Output.Add("y");
        graph.Node.Add(node);
        var model = new ModelProto { IrVersion = 10, Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 21 });
        File.WriteAllBytes(dir.File("big.onnx"), model.ToByteArray());
        using var data = new FileStream(dir.File("big.onnx.data"), FileMode.CreateNew);
        data.SetLength(TensorCount * TensorBytes);   // sparse: no blocks allocated
    }
}
