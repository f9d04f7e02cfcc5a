using OnnxQuant.Ir;
using OnnxQuant.Ir.Building;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Onnx.Proto;

namespace OnnxQuant.Tests.Serialization;

public class AutomaticExternalDataTests
{
    private static Model TwoWeights(int elements)
    {
        var b = new GraphBuilder(opset: 17);
        var x = b.Input("x", DataType.Float, 1, elements);
        var w1 = b.Constant(Tensor.FromFloats(Enumerable.Range(0, elements).Select(i => (float)i).ToArray(), elements), "w1");
        var w2 = b.Constant(Tensor.FromFloats(Enumerable.Range(0, elements).Select(i => -(float)i).ToArray(), elements), "w2");
        b.Output(b.Op("Add", b.Op("Mul", x, w1), w2), "y");
        return b.Build();
    }

    [Fact]
    public void ModelOverTheProtobufLimit_IsWrittenWithExternalData_WithoutBeingAsked()
    {
        // The 2 GB limit is lowered so the test stays small; the decision is the same code path.
        using var folder = new ScratchFolder();
        using var model = TwoWeights(4096);
        string path = folder.File("m.onnx");
        OnnxWriter.Write(model, path, new OnnxWriteOptions { AutoExternalLimit = 16 * 1024 });

        var proto = OnnxReader.ReadProto(path);
        Assert.All(proto.Graph.Initializer, t => Assert.Equal(TensorProto.Types.DataLocation.External, t.DataLocation));
        Assert.True(File.Exists(folder.File("m.onnx.data")));
        using var reread = OnnxReader.Read(path);
        Assert.True(reread.Graph.Constants.Zip(model.Graph.Constants).All(p => p.First.Const!.ContentEquals(p.Second.Const!)));
    }

    [Fact]
    public void ModelUnderTheLimit_StaysInOneFile()
    {
        using var folder = new ScratchFolder();
        using var model = TwoWeights(4096);
        string path = folder.File("m.onnx");
        OnnxWriter.Write(model, path, new OnnxWriteOptions { AutoExternalLimit = 64 * 1024 });

        Assert.All(OnnxReader.ReadProto(path).Graph.Initializer, t => Assert.NotEqual(TensorProto.Types.DataLocation.External, t.DataLocation));
        Assert.Equal([path], Directory.GetFiles(folder.Path));
    }
}
