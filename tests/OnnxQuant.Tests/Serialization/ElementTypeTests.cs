using System.Runtime.InteropServices;
using Google.Protobuf;
using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Onnx.Proto;
using OnnxQuant.Runtime;

namespace OnnxQuant.Tests.Serialization;

/// <summary>
/// Every element type ONNX defines, through both encodings the spec allows (<c>raw_data</c> and the typed field),
/// through our writer, and (where ONNX Runtime runs the type) through ORT. Expected bytes and values come from
/// <see cref="ElementTypeSample"/> and <see cref="ReferenceFloat"/>, not from our codecs.
/// </summary>
public class ElementTypeTests
{
    /// <summary>
    /// Types ONNX Runtime 1.31.1 (CPU, C# API) refuses as the input and output of an Identity model, and why (the
    /// message names it). Found by trying; a test fails when ORT starts accepting one, so the list stays true.
    /// </summary>
    private static readonly Dictionary<DataType, string> RejectedByOrt = new()
    {
        // The native session loads, but the C# API cannot describe a float8 input ("Unregistered TensorElementType").
        [DataType.Float8E4M3FN] = "Unregistered TensorElementType",
        [DataType.Float8E4M3FNUZ] = "Unregistered TensorElementType",
        [DataType.Float8E5M2] = "Unregistered TensorElementType",
        [DataType.Float8E5M2FNUZ] = "Unregistered TensorElementType",
        // The CPU provider registers no Identity kernel for these (Cast reads them: see OrtCast_ReadsOurBytes...).
        [DataType.Float8E8M0] = "Could not find an implementation for Identity",
        [DataType.Float4E2M1] = "Could not find an implementation for Identity",
        [DataType.Int4] = "Could not find an implementation for Identity",
        [DataType.UInt4] = "Could not find an implementation for Identity",
        [DataType.Int2] = "Could not find an implementation for Identity",
        [DataType.UInt2] = "Could not find an implementation for Identity",
        // ORT has no complex tensors at all.
        [DataType.Complex64] = "is not currently registered or supported",
        [DataType.Complex128] = "is not currently registered or supported",
    };

    /// <summary>Types ORT cannot pass through Identity but converts with Cast (opset 25): it reads our bytes.</summary>
    private static readonly DataType[] CastByOrt =
    [
        DataType.Float8E4M3FN, DataType.Float8E4M3FNUZ, DataType.Float8E5M2, DataType.Float8E5M2FNUZ, DataType.Float8E8M0,
        DataType.Int4, DataType.UInt4, DataType.Int2, DataType.UInt2,
    ];

    private static IEnumerable<DataType> ElementTypes => Enum.GetValues<DataType>().Where(t => t != DataType.Undefined);

    public static TheoryData<DataType> AllTypes() => new(ElementTypes);

    public static TheoryData<DataType> TypesOrtRuns() => new(ElementTypes.Where(t => !RejectedByOrt.ContainsKey(t)));

    public static TheoryData<DataType> TypesOrtRejects() => new(RejectedByOrt.Keys);

    public static TheoryData<DataType> TypesOrtCasts() => new(CastByOrt);

    [Theory]
    [MemberData(nameof(AllTypes))]
    public void RawDataAndTypedField_ReadAsTheSameBytesAndValues(DataType type)
    {
        var sample = ElementTypeSample.For(type);

        using var model = OnnxReader.Read(ModelWith(sample).ToByteArray());

        var typed = Constant(model, "typed");
        AssertHolds(sample, typed);
        if (sample.Raw is null) return;   // strings have no raw form
        var raw = Constant(model, "raw");
        AssertHolds(sample, raw);
        Assert.Equal(raw.RawData.ToArray(), typed.RawData.ToArray());
    }

    [Theory]
    [MemberData(nameof(AllTypes))]
    public void WriteThenRead_GivesTheSameBytes(DataType type)
    {
        var sample = ElementTypeSample.For(type);
        using var first = OnnxReader.Read(ModelWith(sample).ToByteArray());

        byte[] written = OnnxWriter.ToBytes(first);
        using var second = OnnxReader.Read(written);

        foreach (var constant in first.Graph.Constants)
            AssertHolds(sample, Constant(second, constant.Name!));
        Assert.Equal(written, OnnxWriter.ToBytes(second));
    }

    [Theory]
    [MemberData(nameof(TypesOrtRuns))]
    public void OrtIdentity_ReturnsTheSameBytes(DataType type)
    {
        var sample = ElementTypeSample.For(type);
        using var read = OnnxReader.Read(ModelWith(sample).ToByteArray());
        var input = Constant(read, "typed");
        using var identity = IdentityModel(type, sample.Count);

        var output = ModelRunner.RunOnce(identity, new Dictionary<string, Tensor> { ["x"] = input })["y"];

        AssertHolds(sample, output);
    }

    [Theory]
    [MemberData(nameof(TypesOrtRejects))]
    public void OrtIdentity_RefusesTheType(DataType type)
    {
        var sample = ElementTypeSample.For(type);
        using var read = OnnxReader.Read(ModelWith(sample).ToByteArray());
        var input = Constant(read, "typed");
        using var identity = IdentityModel(type, sample.Count);

        var e = Assert.Throws<OnnxQuantException>(() => ModelRunner.RunOnce(identity, new Dictionary<string, Tensor> { ["x"] = input }));
        Assert.Contains(RejectedByOrt[type], e.Message, StringComparison.Ordinal);
    }

    /// <summary>ORT converts the tensor as our writer stores it (raw_data, packed low bits first) to the sample's values.</summary>
    [Theory]
    [MemberData(nameof(TypesOrtCasts))]
    public void OrtCast_ReadsOurBytes_AsTheSampleValues(DataType type)
    {
        var sample = ElementTypeSample.For(type);
        using var read = OnnxReader.Read(ModelWith(sample).ToByteArray());
        var graph = new Graph { Name = "cast" };
        var constant = graph.AddConstant(Constant(read, "typed"), "c");
        var cast = graph.Append(new Node("Cast", [constant], attributes: [Attribute.Int("to", (long)DataType.Float)], outputNames: ["y"]));
        cast.Output.Type = new TensorType(DataType.Float, new Shape(sample.Count));
        graph.Outputs.Add(cast.Output);
        using var model = new Model(graph) { IrVersion = 11 };
        model.SetOpset("", 25);

        var output = ModelRunner.RunOnce(model, new Dictionary<string, Tensor>())["y"];

        AssertSameValues(sample.Values!, output.ToDoubleArray());
    }

    [Fact]
    public void EveryElementTypeOnnxDefines_HasASample()
    {
        var onnxTypes = Enum.GetValues<TensorProto.Types.DataType>().Where(t => t != TensorProto.Types.DataType.Undefined);
        Assert.All(onnxTypes, t => Assert.Equal((int)t, (int)ElementTypeSample.For((DataType)(int)t).Type));
    }

    /// <summary>The sample twice as initializers: "raw" in raw_data (not for strings) and "typed" in the typed field.</summary>
    private static ModelProto ModelWith(ElementTypeSample sample)
    {
        var graph = new GraphProto { Name = "element-" + sample.Type };
        var typed = new TensorProto { Name = "typed", DataType = (int)sample.Type, Dims = { sample.Count } };
        sample.FillTyped(typed);
        graph.Initializer.Add(typed);
        if (sample.Raw is not null)
            graph.Initializer.Add(new TensorProto { Name = "raw", DataType = (int)sample.Type, Dims = { sample.Count }, RawData = ByteString.CopyFrom(sample.Raw) });
        foreach (var t in graph.Initializer)
        {
            graph.Node.Add(new NodeProto { OpType = "Identity", Input = { t.Name }, Output = { t.Name + "_out" } });
            graph.Output.Add(new ValueInfoProto
            {
                Name = t.Name + "_out",
                Type = new TypeProto
                {
                    TensorType = new TypeProto.Types.Tensor
                    {
                        ElemType = (int)sample.Type,
                        Shape = new TensorShapeProto { Dim = { new TensorShapeProto.Types.Dimension { DimValue = sample.Count } } },
                    },
                },
            });
        }
        return new ModelProto { IrVersion = 11, OpsetImport = { new OperatorSetIdProto { Domain = "", Version = 25 } }, Graph = graph };
    }

    /// <summary>y = Identity(x) with x and y of <paramref name="type"/>[<paramref name="count"/>].</summary>
    private static Model IdentityModel(DataType type, long count)
    {
        var graph = new Graph { Name = "identity" };
        var tensorType = new TensorType(type, new Shape(count));
        var x = graph.AddInput("x", tensorType);
        var node = graph.Append(new Node("Identity", [x], outputNames: ["y"]));
        node.Output.Type = tensorType;
        graph.Outputs.Add(node.Output);
        var model = new Model(graph) { IrVersion = 11 };
        model.SetOpset("", 25);
        return model;
    }

    private static Tensor Constant(Model model, string name) =>
        model.Graph.Constants.Single(c => c.Name == name).Const!;

    private static void AssertHolds(ElementTypeSample sample, Tensor tensor)
    {
        Assert.Equal(sample.Type, tensor.ElementType);
        Assert.Equal([sample.Count], tensor.Dims);
        if (sample.Strings is not null)
        {
            Assert.Equal(sample.Strings, tensor.Strings);
            return;
        }
        Assert.Equal(sample.Raw, tensor.RawData.ToArray());
        double[] values = sample.Type switch
        {
            DataType.Complex64 => Array.ConvertAll(MemoryMarshal.Cast<byte, float>(tensor.RawData.Span).ToArray(), f => (double)f),
            DataType.Complex128 => MemoryMarshal.Cast<byte, double>(tensor.RawData.Span).ToArray(),
            _ => tensor.ToDoubleArray(),
        };
        AssertSameValues(sample.Values!, values);
    }

    /// <summary>Bit-for-bit equal doubles (so −0 differs from +0); any NaN matches any NaN.</summary>
    private static void AssertSameValues(double[] expected, double[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            bool same = double.IsNaN(expected[i])
                ? double.IsNaN(actual[i])
                : BitConverter.DoubleToInt64Bits(expected[i]) == BitConverter.DoubleToInt64Bits(actual[i]);
            Assert.True(same, $"element {i}: expected {expected[i]:R}, got {actual[i]:R}");
        }
    }
}
