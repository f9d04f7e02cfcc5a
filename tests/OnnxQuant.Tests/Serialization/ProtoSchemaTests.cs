using System.Collections;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using OnnxQuant.Onnx.Proto;
using WireType = Google.Protobuf.WireFormat.WireType;

namespace OnnxQuant.Tests.Serialization;

/// <summary>
/// Our onnx.proto against the ONNX specification: every field survives protobuf round trips, the schema matches the
/// spec's table (../shared/docs/ONNX_SCHEMA.md) field by field, and field numbers on the wire are the spec's.
/// </summary>
public class ProtoSchemaTests
{
    [Fact]
    public void FullSample_SetsEveryFieldOfEveryMessage_ToANonDefaultValue()
    {
        var set = new HashSet<string>(StringComparer.Ordinal);
        CollectSetFields(FullProtoSample.Build(), set);
        var all = AllMessages().SelectMany(m => m.Fields.InDeclarationOrder()).Select(f => f.FullName).ToList();
        Assert.True(all.Count > 100, $"only {all.Count} fields in the schema");
        string[] missing = all.Where(f => !set.Contains(f)).ToArray();
        Assert.True(missing.Length == 0, "fields the sample leaves unset: " + string.Join(", ", missing));
    }

    [Fact]
    public void EveryField_SurvivesParseSerializeParse_WithIdenticalBytes()
    {
        var model = FullProtoSample.Build();
        byte[] bytes = model.ToByteArray();

        var parsed = ModelProto.Parser.ParseFrom(bytes);
        // Equals compares every field and the unknown-field sets: a field our schema lost would fail here.
        Assert.Equal(model, parsed);
        Assert.Equal(bytes, parsed.ToByteArray());
        Assert.Equal(parsed, ModelProto.Parser.ParseFrom(parsed.ToByteArray()));
    }

    [Fact]
    public void Schema_MatchesTheSpecTable_MessageByMessageAndFieldByField()
    {
        var (specMessages, specEnums) = ReadSpecTable(Path.Combine(SharedPaths.Shared, "docs", "ONNX_SCHEMA.md"));

        var ourMessages = AllMessages().ToDictionary(Relative, m => m.Fields.InDeclarationOrder().Select(Describe).Order().ToList());
        Assert.Equal(specMessages.Keys.Order(), ourMessages.Keys.Order());
        foreach (var (name, fields) in specMessages)
            Assert.Equal(fields.Order().ToList(), ourMessages[name]);

        var ourEnums = OnnxReflection.Descriptor.EnumTypes.Concat(AllMessages().SelectMany(m => m.EnumTypes))
            .ToDictionary(Relative, e => e.Values.Select(v => $"{v.Name} = {v.Number}").Order().ToList());
        Assert.Equal(specEnums.Keys.Order(), ourEnums.Keys.Order());
        foreach (var (name, values) in specEnums)
            Assert.Equal(values.Order().ToList(), ourEnums[name]);
    }

    /// <summary>
    /// Expected numbers and wire types are copied from the spec table (ONNX_SCHEMA.md), not from our schema: encoding a
    /// message with only that field set and reading the raw tag proves what our generated code writes.
    /// </summary>
    [Theory]
    [InlineData("ModelProto.ir_version", 1, WireType.Varint)]
    [InlineData("ModelProto.opset_import", 8, WireType.LengthDelimited)]
    [InlineData("ModelProto.metadata_props", 14, WireType.LengthDelimited)]
    [InlineData("ModelProto.training_info", 20, WireType.LengthDelimited)]
    [InlineData("ModelProto.functions", 25, WireType.LengthDelimited)]
    [InlineData("ModelProto.configuration", 26, WireType.LengthDelimited)]
    [InlineData("GraphProto.doc_string", 10, WireType.LengthDelimited)]
    [InlineData("GraphProto.quantization_annotation", 14, WireType.LengthDelimited)]
    [InlineData("GraphProto.sparse_initializer", 15, WireType.LengthDelimited)]
    [InlineData("GraphProto.metadata_props", 16, WireType.LengthDelimited)]
    [InlineData("NodeProto.domain", 7, WireType.LengthDelimited)]
    [InlineData("NodeProto.overload", 8, WireType.LengthDelimited)]
    [InlineData("NodeProto.device_configurations", 10, WireType.LengthDelimited)]
    [InlineData("AttributeProto.floats", 7, WireType.Fixed32)]
    [InlineData("AttributeProto.ints", 8, WireType.Varint)]
    [InlineData("AttributeProto.tp", 14, WireType.LengthDelimited)]
    [InlineData("AttributeProto.type", 20, WireType.Varint)]
    [InlineData("AttributeProto.ref_attr_name", 21, WireType.LengthDelimited)]
    [InlineData("AttributeProto.sparse_tensors", 23, WireType.LengthDelimited)]
    [InlineData("TensorProto.dims", 1, WireType.Varint)]
    [InlineData("TensorProto.segment", 3, WireType.LengthDelimited)]
    [InlineData("TensorProto.float_data", 4, WireType.LengthDelimited)]
    [InlineData("TensorProto.int32_data", 5, WireType.LengthDelimited)]
    [InlineData("TensorProto.int64_data", 7, WireType.LengthDelimited)]
    [InlineData("TensorProto.raw_data", 9, WireType.LengthDelimited)]
    [InlineData("TensorProto.double_data", 10, WireType.LengthDelimited)]
    [InlineData("TensorProto.uint64_data", 11, WireType.LengthDelimited)]
    [InlineData("TensorProto.external_data", 13, WireType.LengthDelimited)]
    [InlineData("TensorProto.data_location", 14, WireType.Varint)]
    [InlineData("TensorProto.metadata_props", 16, WireType.LengthDelimited)]
    [InlineData("ValueInfoProto.metadata_props", 4, WireType.LengthDelimited)]
    [InlineData("TypeProto.sequence_type", 4, WireType.LengthDelimited)]
    [InlineData("TypeProto.denotation", 6, WireType.LengthDelimited)]
    [InlineData("TypeProto.opaque_type", 7, WireType.LengthDelimited)]
    [InlineData("TypeProto.sparse_tensor_type", 8, WireType.LengthDelimited)]
    [InlineData("TypeProto.optional_type", 9, WireType.LengthDelimited)]
    [InlineData("TensorShapeProto.Dimension.denotation", 3, WireType.LengthDelimited)]
    [InlineData("FunctionProto.attribute_proto", 11, WireType.LengthDelimited)]
    [InlineData("FunctionProto.value_info", 12, WireType.LengthDelimited)]
    [InlineData("FunctionProto.overload", 13, WireType.LengthDelimited)]
    [InlineData("NodeDeviceConfigurationProto.pipeline_stage", 3, WireType.Varint)]
    [InlineData("SimpleShardedDimProto.num_shards", 3, WireType.Varint)]
    public void FieldNumberOnTheWire_IsTheSpecs(string field, int number, WireType wireType)
    {
        byte[] bytes = MessageWithOnly(field).ToByteArray();

        var input = new CodedInputStream(bytes);
        uint tag = input.ReadTag();
        Assert.Equal(number, WireFormat.GetTagFieldNumber(tag));
        Assert.Equal(wireType, WireFormat.GetTagWireType(tag));
        input.SkipLastField();
        Assert.True(input.IsAtEnd, $"{field} wrote more than one field");
    }

    private static IMessage MessageWithOnly(string field) => field switch
    {
        "ModelProto.ir_version" => new ModelProto { IrVersion = 3 },
        "ModelProto.opset_import" => new ModelProto { OpsetImport = { new OperatorSetIdProto() } },
        "ModelProto.metadata_props" => new ModelProto { MetadataProps = { new StringStringEntryProto() } },
        "ModelProto.training_info" => new ModelProto { TrainingInfo = { new TrainingInfoProto() } },
        "ModelProto.functions" => new ModelProto { Functions = { new FunctionProto() } },
        "ModelProto.configuration" => new ModelProto { Configuration = { new DeviceConfigurationProto() } },
        "GraphProto.doc_string" => new GraphProto { DocString = "d" },
        "GraphProto.quantization_annotation" => new GraphProto { QuantizationAnnotation = { new TensorAnnotation() } },
        "GraphProto.sparse_initializer" => new GraphProto { SparseInitializer = { new SparseTensorProto() } },
        "GraphProto.metadata_props" => new GraphProto { MetadataProps = { new StringStringEntryProto() } },
        "NodeProto.domain" => new NodeProto { Domain = "d" },
        "NodeProto.overload" => new NodeProto { Overload = "o" },
        "NodeProto.device_configurations" => new NodeProto { DeviceConfigurations = { new NodeDeviceConfigurationProto() } },
        "AttributeProto.floats" => new AttributeProto { Floats = { 1.5f } },
        "AttributeProto.ints" => new AttributeProto { Ints = { 7 } },
        "AttributeProto.tp" => new AttributeProto { Tp = new TypeProto() },
        "AttributeProto.type" => new AttributeProto { Type = AttributeProto.Types.AttributeType.Ints },
        "AttributeProto.ref_attr_name" => new AttributeProto { RefAttrName = "r" },
        "AttributeProto.sparse_tensors" => new AttributeProto { SparseTensors = { new SparseTensorProto() } },
        "TensorProto.dims" => new TensorProto { Dims = { 4 } },
        "TensorProto.segment" => new TensorProto { Segment = new TensorProto.Types.Segment() },
        "TensorProto.float_data" => new TensorProto { FloatData = { 1f, 2f } },
        "TensorProto.int32_data" => new TensorProto { Int32Data = { 1, 2 } },
        "TensorProto.int64_data" => new TensorProto { Int64Data = { 1, 2 } },
        "TensorProto.raw_data" => new TensorProto { RawData = ByteString.CopyFrom(1, 2) },
        "TensorProto.double_data" => new TensorProto { DoubleData = { 1, 2 } },
        "TensorProto.uint64_data" => new TensorProto { Uint64Data = { 1, 2 } },
        "TensorProto.external_data" => new TensorProto { ExternalData = { new StringStringEntryProto() } },
        "TensorProto.data_location" => new TensorProto { DataLocation = TensorProto.Types.DataLocation.External },
        "TensorProto.metadata_props" => new TensorProto { MetadataProps = { new StringStringEntryProto() } },
        "ValueInfoProto.metadata_props" => new ValueInfoProto { MetadataProps = { new StringStringEntryProto() } },
        "TypeProto.sequence_type" => new TypeProto { SequenceType = new TypeProto.Types.Sequence() },
        "TypeProto.denotation" => new TypeProto { Denotation = "d" },
        "TypeProto.opaque_type" => new TypeProto { OpaqueType = new TypeProto.Types.Opaque() },
        "TypeProto.sparse_tensor_type" => new TypeProto { SparseTensorType = new TypeProto.Types.SparseTensor() },
        "TypeProto.optional_type" => new TypeProto { OptionalType = new TypeProto.Types.Optional() },
        "TensorShapeProto.Dimension.denotation" => new TensorShapeProto.Types.Dimension { Denotation = "d" },
        "FunctionProto.attribute_proto" => new FunctionProto { AttributeProto = { new AttributeProto() } },
        "FunctionProto.value_info" => new FunctionProto { ValueInfo = { new ValueInfoProto() } },
        "FunctionProto.overload" => new FunctionProto { Overload = "o" },
        "NodeDeviceConfigurationProto.pipeline_stage" => new NodeDeviceConfigurationProto { PipelineStage = 2 },
        "SimpleShardedDimProto.num_shards" => new SimpleShardedDimProto { NumShards = 2 },
        _ => throw new ArgumentException($"No sample for {field}.", nameof(field)),
    };

    /// <summary>Every message type of onnx.proto, nested ones included.</summary>
    private static IEnumerable<MessageDescriptor> AllMessages()
    {
        static IEnumerable<MessageDescriptor> WithNested(MessageDescriptor m) => m.NestedTypes.SelectMany(WithNested).Prepend(m);
        return OnnxReflection.Descriptor.MessageTypes.SelectMany(WithNested);
    }

    private static string Relative(IDescriptor d) => d.FullName["onnx.".Length..];

    /// <summary>A field the way the spec table writes it: label | type | name | number | options.</summary>
    private static string Describe(FieldDescriptor f)
    {
        string label = f.RealContainingOneof is { } oneof ? $"oneof {oneof.Name}" : f.IsRepeated ? "repeated" : "optional";
        string type = f.FieldType switch
        {
            FieldType.Message or FieldType.Group => f.MessageType.Name,
            FieldType.Enum => f.EnumType.Name,
            _ => f.FieldType.ToString().ToLowerInvariant(),
        };
        return $"{label} | {type} | {f.Name} | {f.FieldNumber} | {(f.IsPacked ? "packed=true" : "")}";
    }

    /// <summary>The "## message X" and "## enum X" tables of ONNX_SCHEMA.md (reserved rows skipped).</summary>
    private static (Dictionary<string, List<string>> Messages, Dictionary<string, List<string>> Enums) ReadSpecTable(string path)
    {
        var messages = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        var enums = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        List<string>? current = null;
        bool isEnum = false;
        foreach (string line in File.ReadLines(path))
        {
            if (line.StartsWith("## message ", StringComparison.Ordinal))
            {
                messages[line["## message ".Length..].Trim()] = current = [];
                isEnum = false;
            }
            else if (line.StartsWith("## enum ", StringComparison.Ordinal))
            {
                enums[line["## enum ".Length..].Trim()] = current = [];
                isEnum = true;
            }
            else if (line.StartsWith("## ", StringComparison.Ordinal))
            {
                current = null;
            }
            else if (current is not null && line.StartsWith('|'))
            {
                string[] cells = line.Trim('|').Split('|').Select(c => c.Trim()).ToArray();
                if (cells[0] is "label" or "name" or "reserved" || cells[0].StartsWith("---", StringComparison.Ordinal)) continue;
                current.Add(isEnum ? $"{cells[0]} = {cells[1]}" : string.Join(" | ", cells));
            }
        }
        Assert.True(messages.Count > 20 && enums.Count >= 5, $"{path} does not look like the schema table.");
        return (messages, enums);
    }

    /// <summary>Adds the full name of every field that is set to a non-default value, recursively.</summary>
    private static void CollectSetFields(IMessage message, HashSet<string> set)
    {
        foreach (var f in message.Descriptor.Fields.InDeclarationOrder())
        {
            if (f.IsRepeated)
            {
                var items = (IList)f.Accessor.GetValue(message);
                if (items.Count == 0) continue;
                set.Add(f.FullName);
                if (f.FieldType == FieldType.Message)
                    foreach (IMessage item in items) CollectSetFields(item, set);
                continue;
            }
            if (!f.Accessor.HasValue(message)) continue;
            object value = f.Accessor.GetValue(message);
            bool nonDefault = value switch
            {
                string s => s.Length > 0,
                ByteString b => b.Length > 0,
                IMessage => true,
                Enum e => Convert.ToInt32(e, System.Globalization.CultureInfo.InvariantCulture) != 0,
                _ => Convert.ToDouble(value, System.Globalization.CultureInfo.InvariantCulture) != 0,
            };
            if (!nonDefault) continue;
            set.Add(f.FullName);
            if (value is IMessage inner) CollectSetFields(inner, set);
        }
    }
}
