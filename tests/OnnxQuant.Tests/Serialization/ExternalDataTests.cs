using System.Globalization;
using Google.Protobuf;
using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Onnx.Proto;
using OnnxQuant.Tests.Cli;

namespace OnnxQuant.Tests.Serialization;

public class ExternalDataTests
{
    [Fact]
    public void ConvertWithExternalData_MovesTensorsAtOrAboveTheThreshold_AndReadsThemBackEqual()
    {
        const long threshold = 4096;
        using var dir = new ScratchFolder();
        string input = SharedPaths.Model("vit_mnist.onnx");
        string output = dir.File("m.onnx");
        var result = Onnxquant.Run("convert", input, output, "--external-data", "--size-threshold", threshold.ToString(CultureInfo.InvariantCulture));
        Assert.True(result.ExitCode == 0, result.ToString());

        var proto = OnnxReader.ReadProto(output);
        int external = 0, inline = 0;
        foreach (var t in proto.Graph.Initializer)
        {
            long bytes = ((DataType)t.DataType).ByteLength(t.Dims.Aggregate(1L, (a, b) => a * b));
            bool isExternal = t.DataLocation == TensorProto.Types.DataLocation.External;
            Assert.True(isExternal == (bytes >= threshold), $"{t.Name} ({bytes} bytes) external={isExternal}");
            if (isExternal)
            {
                Assert.Equal("m.onnx.data", t.ExternalData.Single(e => e.Key == "location").Value);
                Assert.Equal(bytes, long.Parse(t.ExternalData.Single(e => e.Key == "length").Value, CultureInfo.InvariantCulture));
                Assert.True(t.RawData.IsEmpty);
                external++;
            }
            else inline++;
        }
        Assert.True(external > 0 && inline > 0, $"the threshold should split this model: {external} external, {inline} inline");

        using var original = OnnxReader.Read(input);
        using var converted = OnnxReader.Read(output);
        var originals = original.Graph.Constants.ToDictionary(c => c.Name!);
        Assert.Equal(originals.Count, converted.Graph.Constants.Count);
        foreach (var c in converted.Graph.Constants)
        {
            Assert.True(originals[c.Name!].Const!.ContentEquals(c.Const!), c.Name);
            Assert.Equal(c.Const!.ByteLength >= threshold, c.Const.IsMapped);
        }
    }

    public static TheoryData<string> MaliciousCases() =>
        new(["absolute path", "parent folder", "symbolic link out of the folder", "offset past the end", "length mismatch", "region past the end", "NUL character"]);

    [Theory]
    [MemberData(nameof(MaliciousCases))]
    public void MaliciousLocation_IsRefusedWithAClearError(string how)
    {
        using var dir = new ScratchFolder();
        string modelDir = dir.File("model");
        Directory.CreateDirectory(modelDir);
        Directory.CreateDirectory(dir.File("outside"));
        const int elements = 1024;
        const long bytes = elements * 4;
        // A data file that exists wherever the location points, so the only fault is the location itself.
        File.WriteAllBytes(Path.Combine(modelDir, "w.bin"), new byte[bytes]);
        File.WriteAllBytes(dir.File("w.bin"), new byte[bytes]);
        File.WriteAllBytes(dir.File("outside/w.bin"), new byte[bytes]);

        (string location, long offset, long length, string message) = how switch
        {
            "absolute path" => (Path.Combine(modelDir, "w.bin"), 0L, bytes, "absolute path"),
            "parent folder" => ("../w.bin", 0L, bytes, "'..'"),
            "symbolic link out of the folder" => (Link(modelDir, dir), 0L, bytes, "symbolic link"),
            "offset past the end" => ("w.bin", bytes + 4096, bytes, "has only 4096 bytes"),
            "length mismatch" => ("w.bin", 0L, bytes - 4, "declares length 4092"),
            "region past the end" => ("w.bin", 64L, bytes, "has only 4096 bytes"),
            "NUL character" => ("w.bin\0.txt", 0L, bytes, "NUL character"),
            _ => throw new ArgumentOutOfRangeException(nameof(how)),
        };
        string path = Path.Combine(modelDir, "m.onnx");
        File.WriteAllBytes(path, TinyModel(elements, location, offset, length).ToByteArray());

        var error = Assert.Throws<OnnxFormatException>(() => OnnxReader.Read(path));
        Assert.Contains(message, error.Message);
        Assert.Contains("initializer 'w'", error.Message);

        var result = Onnxquant.Run("inspect", path);
        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.StartsWith("error: ", result.Stderr);
        Assert.Contains(message, result.Stderr);
        Assert.DoesNotContain("   at ", result.Stderr);

        static string Link(string modelDir, ScratchFolder dir)
        {
            File.Delete(Path.Combine(modelDir, "w.bin"));
            File.CreateSymbolicLink(Path.Combine(modelDir, "w.bin"), dir.File("outside/w.bin"));
            return "w.bin";
        }
    }

    /// <summary>y = x + w with w (float[elements]) in external data at the given location, written as a raw proto.</summary>
    internal static ModelProto TinyModel(long elements, string location, long offset, long length)
    {
        var w = new TensorProto { Name = "w", DataType = (int)DataType.Float, DataLocation = TensorProto.Types.DataLocation.External };
        w.Dims.Add(elements);
        w.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = location });
        w.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = offset.ToString(CultureInfo.InvariantCulture) });
        w.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = length.ToString(CultureInfo.InvariantCulture) });
        var graph = new GraphProto { Name = "tiny" };
        graph.Initializer.Add(w);
        graph.Input.Add(FloatValue("x", elements));
        graph.Output.Add(FloatValue("y", elements));
        var add = new NodeProto { OpType = "Add" };
        add.Input.Add("x");
        add.Input.Add("w");
        add.Output.Add("y");
        graph.Node.Add(add);
        var model = new ModelProto { IrVersion = 10, Graph = graph, ProducerName = "OnnxQuant.Tests" };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 21 });
        return model;
    }

    internal static ValueInfoProto FloatValue(string name, long elements)
    {
        var shape = new TensorShapeProto();
        shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = elements });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)DataType.Float, Shape = shape } },
        };
    }
}
