using Google.Protobuf;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Onnx.Proto;

namespace OnnxQuant.Tests.Serialization;

/// <summary>
/// Fields our schema does not define (a newer ONNX's, or a tool's own) survive a read/write unchanged, on the very
/// message that carried them: through protobuf alone, and through the IR (reader, IR objects, writer).
/// </summary>
public class UnknownFieldTests
{
    /// <summary>Where the sample model carries unknown fields, each with its own payload.</summary>
    public static TheoryData<string> Carriers() => new(Locations.Keys);

    private static readonly Dictionary<string, Func<ModelProto, IMessage>> Locations = new(StringComparer.Ordinal)
    {
        ["model"] = m => m,
        ["graph"] = m => m.Graph,
        ["node Add"] = m => m.Graph.Node.Single(n => n.OpType == "Add"),
        ["attribute alpha"] = m => m.Graph.Node.Single(n => n.OpType == "LeakyRelu").Attribute.Single(a => a.Name == "alpha"),
        ["attribute value"] = m => m.Graph.Node.Single(n => n.OpType == "ConstantOfShape").Attribute.Single(a => a.Name == "value"),
        ["tensor in attribute value"] = m => m.Graph.Node.Single(n => n.OpType == "ConstantOfShape").Attribute.Single().T,
        ["initializer w"] = m => m.Graph.Initializer.Single(t => t.Name == "w"),
        ["input x"] = m => m.Graph.Input.Single(v => v.Name == "x"),
        ["value_info s"] = m => m.Graph.ValueInfo.Single(v => v.Name == "s"),
        ["output y"] = m => m.Graph.Output.Single(v => v.Name == "y"),
    };

    [Theory]
    [MemberData(nameof(Carriers))]
    public void UnknownField_SurvivesProtobufParseAndSerialize(string where)
    {
        byte[] bytes = SampleWithUnknownFields().ToByteArray();

        var parsed = ModelProto.Parser.ParseFrom(bytes);

        Assert.Equal(Payload(where), UnknownBytes(Locations[where](parsed)));
        Assert.Equal(bytes, parsed.ToByteArray());
    }

    [Theory]
    [MemberData(nameof(Carriers))]
    public void UnknownField_SurvivesReadingIntoTheIrAndWritingBack(string where)
    {
        byte[] bytes = SampleWithUnknownFields().ToByteArray();

        using var model = OnnxReader.Read(bytes);
        var written = ModelProto.Parser.ParseFrom(OnnxWriter.ToBytes(model));

        Assert.Equal(Payload(where), UnknownBytes(Locations[where](written)));
    }

    [Fact]
    public void ModelWithUnknownFields_WritesTheSameBytesAfterASecondReadWrite()
    {
        using var first = OnnxReader.Read(SampleWithUnknownFields().ToByteArray());
        byte[] once = OnnxWriter.ToBytes(first);
        using var second = OnnxReader.Read(once);
        Assert.Equal(once, OnnxWriter.ToBytes(second));
    }

    [Fact]
    public void MessagesWithoutUnknownFields_GiveNoBytes()
    {
        var plain = SampleWithUnknownFields(withUnknown: false);
        Assert.All(Locations.Values, at => Assert.Null(UnknownBytes(at(plain))));

        using var model = OnnxReader.Read(plain.ToByteArray());
        var written = ModelProto.Parser.ParseFrom(OnnxWriter.ToBytes(model));
        Assert.All(Locations.Values, at => Assert.Null(UnknownBytes(at(written))));
    }

    /// <summary>
    /// y = LeakyRelu(x + w), z = ConstantOfShape(shape, value): a model, graph, node, attributes (scalar and tensor),
    /// initializer, and value infos (input, intermediate, output), each with unknown fields when asked.
    /// </summary>
    private static ModelProto SampleWithUnknownFields(bool withUnknown = true)
    {
        static TypeProto Float(params long[] dims)
        {
            var shape = new TensorShapeProto();
            foreach (long d in dims) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
            return new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = shape } };
        }

        var graph = new GraphProto
        {
            Name = "unknown-fields",
            Initializer =
            {
                new TensorProto { Name = "w", DataType = (int)TensorProto.Types.DataType.Float, Dims = { 2 }, FloatData = { 0.5f, -1.5f } },
                new TensorProto { Name = "shape", DataType = (int)TensorProto.Types.DataType.Int64, Dims = { 1 }, Int64Data = { 3 } },
            },
            Input = { new ValueInfoProto { Name = "x", Type = Float(2) } },
            Node =
            {
                new NodeProto { OpType = "Add", Name = "add", Input = { "x", "w" }, Output = { "s" } },
                new NodeProto
                {
                    OpType = "LeakyRelu", Name = "leaky", Input = { "s" }, Output = { "y" },
                    Attribute = { new AttributeProto { Name = "alpha", Type = AttributeProto.Types.AttributeType.Float, F = 0.25f } },
                },
                new NodeProto
                {
                    OpType = "ConstantOfShape", Name = "fill", Input = { "shape" }, Output = { "z" },
                    Attribute =
                    {
                        new AttributeProto
                        {
                            Name = "value", Type = AttributeProto.Types.AttributeType.Tensor,
                            T = new TensorProto { DataType = (int)TensorProto.Types.DataType.Float, Dims = { 1 }, FloatData = { 7f } },
                        },
                    },
                },
            },
            ValueInfo = { new ValueInfoProto { Name = "s", Type = Float(2) } },
            Output = { new ValueInfoProto { Name = "y", Type = Float(2) }, new ValueInfoProto { Name = "z", Type = Float(3) } },
        };
        var model = new ModelProto { IrVersion = 10, OpsetImport = { new OperatorSetIdProto { Domain = "", Version = 21 } }, Graph = graph };
        if (withUnknown)
            foreach (var (where, at) in Locations) at(model).MergeFrom(Payload(where));
        return model;
    }

    /// <summary>
    /// Fields 1000 (varint), 1001 (length-delimited) and 1002 (fixed32), numbers ONNX does not use, with values that
    /// name their carrier, so a payload that lands on the wrong message is caught.
    /// </summary>
    private static byte[] Payload(string where)
    {
        using var buffer = new MemoryStream();
        var output = new CodedOutputStream(buffer);
        output.WriteTag(1000, WireFormat.WireType.Varint);
        output.WriteUInt64((ulong)where.Length * 1_000_003UL + 0x8000_0000_0000UL);
        output.WriteTag(1001, WireFormat.WireType.LengthDelimited);
        output.WriteBytes(ByteString.CopyFromUtf8("from a newer ONNX: " + where));
        output.WriteTag(1002, WireFormat.WireType.Fixed32);
        output.WriteFixed32((uint)where.Sum(c => c));
        output.Flush();
        return buffer.ToArray();
    }

    private static byte[]? UnknownBytes(IMessage message) => message switch
    {
        ModelProto m => UnknownFields.Of(m),
        GraphProto g => UnknownFields.Of(g),
        NodeProto n => UnknownFields.Of(n),
        AttributeProto a => UnknownFields.Of(a),
        TensorProto t => UnknownFields.Of(t),
        ValueInfoProto v => UnknownFields.Of(v),
        _ => throw new ArgumentException($"No unknown-field accessor for {message.GetType().Name}."),
    };
}
