using Google.Protobuf;
using OnnxQuant.Onnx.Proto;
using AttributeType = OnnxQuant.Onnx.Proto.AttributeProto.Types.AttributeType;

namespace OnnxQuant.Tests.Serialization;

/// <summary>
/// A <see cref="ModelProto"/> in which every field of every message of our onnx.proto is set, each to its own
/// non-default value (strings and numbers from one counter), so that a field lost or mixed up on the way shows.
/// Meaningful only as protobuf (a tensor with every data field at once is not a valid ONNX tensor).
/// <see cref="ProtoSchemaTests"/> checks that the sample really covers every field.
/// </summary>
internal sealed class FullProtoSample
{
    private int _next = 1;

    public static ModelProto Build() => new FullProtoSample().Model();

    private int Int() => _next++;
    private string Str(string what) => $"{what}-{_next++}";
    private ByteString Bytes(string what) => ByteString.CopyFromUtf8(Str(what));
    private float Float() => _next++ + 0.25f;
    private double Double() => _next++ + 0.125;

    private ModelProto Model()
    {
        var model = new ModelProto
        {
            IrVersion = Int(),
            ProducerName = Str("producer"),
            ProducerVersion = Str("producer-version"),
            Domain = Str("model-domain"),
            ModelVersion = Int(),
            DocString = Str("model-doc"),
            Graph = Graph(depth: 0),
        };
        model.OpsetImport.Add(Opset());
        model.OpsetImport.Add(Opset());
        model.MetadataProps.Add(Entry());
        model.TrainingInfo.Add(new TrainingInfoProto
        {
            Initialization = Graph(depth: 2),
            Algorithm = Graph(depth: 2),
            InitializationBinding = { Entry(), Entry() },
            UpdateBinding = { Entry() },
        });
        model.Functions.Add(Function());
        model.Configuration.Add(new DeviceConfigurationProto
        {
            Name = Str("configuration"),
            NumDevices = Int(),
            Device = { Str("device"), Str("device") },
        });
        return model;
    }

    private OperatorSetIdProto Opset() => new() { Domain = Str("opset-domain"), Version = Int() };

    private StringStringEntryProto Entry() => new() { Key = Str("key"), Value = Str("value") };

    /// <summary>A graph with every field; depth 0 and 1 also carry subgraphs in attributes.</summary>
    private GraphProto Graph(int depth)
    {
        var graph = new GraphProto
        {
            Name = Str("graph"),
            DocString = Str("graph-doc"),
            Initializer = { Tensor(), Tensor() },
            SparseInitializer = { Sparse() },
            Input = { ValueInfo(TensorTypeProto()) },
            Output = { ValueInfo(TensorTypeProto()) },
            QuantizationAnnotation =
            {
                new TensorAnnotation { TensorName = Str("annotated"), QuantParameterTensorNames = { Entry(), Entry() } },
            },
            MetadataProps = { Entry() },
        };
        foreach (var type in EveryKindOfType()) graph.ValueInfo.Add(ValueInfo(type));
        graph.Node.Add(Node(depth));
        return graph;
    }

    private NodeProto Node(int depth)
    {
        var node = new NodeProto
        {
            Input = { Str("in"), "", Str("in") },
            Output = { Str("out"), Str("out") },
            Name = Str("node"),
            OpType = Str("Op"),
            Domain = Str("node-domain"),
            Overload = Str("node-overload"),
            DocString = Str("node-doc"),
            MetadataProps = { Entry() },
            DeviceConfigurations = { DeviceConfiguration() },
        };
        node.Attribute.AddRange(Attributes(depth));
        return node;
    }

    private NodeDeviceConfigurationProto DeviceConfiguration() => new()
    {
        ConfigurationId = Str("configuration-id"),
        PipelineStage = Int(),
        ShardingSpec =
        {
            new ShardingSpecProto
            {
                TensorName = Str("sharded"),
                Device = { Int(), Int() },
                IndexToDeviceGroupMap = { new IntIntListEntryProto { Key = Int(), Value = { Int(), Int() } } },
                ShardedDim =
                {
                    new ShardedDimProto
                    {
                        Axis = Int(),
                        SimpleSharding =
                        {
                            new SimpleShardedDimProto { DimValue = Int(), NumShards = Int() },
                            new SimpleShardedDimProto { DimParam = Str("shard-param"), NumShards = Int() },
                        },
                    },
                },
            },
        },
    };

    /// <summary>One attribute of each kind (graphs only above the deepest level), and a reference to a function attribute.</summary>
    private IEnumerable<AttributeProto> Attributes(int depth)
    {
        AttributeProto Make(AttributeType type, Action<AttributeProto> setValue)
        {
            var attribute = new AttributeProto { Name = Str("attr"), DocString = Str("attr-doc"), Type = type };
            setValue(attribute);
            return attribute;
        }
        yield return Make(AttributeType.Float, a => a.F = Float());
        yield return Make(AttributeType.Int, a => a.I = Int());
        yield return Make(AttributeType.String, a => a.S = Bytes("s"));
        yield return Make(AttributeType.Tensor, a => a.T = Tensor());
        yield return Make(AttributeType.SparseTensor, a => a.SparseTensor = Sparse());
        yield return Make(AttributeType.TypeProto, a => a.Tp = TensorTypeProto());
        yield return Make(AttributeType.Floats, a => a.Floats.Add([Float(), Float()]));
        yield return Make(AttributeType.Ints, a => a.Ints.Add([Int(), -Int()]));
        yield return Make(AttributeType.Strings, a => a.Strings.Add([Bytes("ss"), Bytes("ss")]));
        yield return Make(AttributeType.Tensors, a => a.Tensors.Add([Tensor(), Tensor()]));
        yield return Make(AttributeType.SparseTensors, a => a.SparseTensors.Add([Sparse(), Sparse()]));
        yield return Make(AttributeType.TypeProtos, a => a.TypeProtos.Add(EveryKindOfType()));
        yield return Make(AttributeType.Int, a => a.RefAttrName = Str("ref"));
        if (depth < 2)
        {
            yield return Make(AttributeType.Graph, a => a.G = Graph(depth + 1));
            yield return Make(AttributeType.Graphs, a => a.Graphs.Add([Graph(depth + 2), Graph(depth + 2)]));
        }
    }

    /// <summary>A tensor with every TensorProto field set at once.</summary>
    private TensorProto Tensor() => new()
    {
        Dims = { Int(), Int() },
        DataType = Int(),
        Segment = new TensorProto.Types.Segment { Begin = Int(), End = Int() },
        FloatData = { Float(), -Float(), float.NegativeInfinity, BitConverter.Int32BitsToSingle(0x7F800001) },
        Int32Data = { Int(), -Int() },
        StringData = { Bytes("string-data"), ByteString.CopyFrom(0xFF, 0x00, (byte)Int()) },
        Int64Data = { Int(), long.MinValue },
        Name = Str("tensor"),
        DocString = Str("tensor-doc"),
        RawData = ByteString.CopyFrom(BitConverter.GetBytes(Double())),
        ExternalData = { Entry(), Entry(), Entry() },
        DataLocation = TensorProto.Types.DataLocation.External,
        DoubleData = { Double(), -Double(), double.Epsilon },
        Uint64Data = { (ulong)Int(), ulong.MaxValue },
        MetadataProps = { Entry() },
    };

    private SparseTensorProto Sparse() => new() { Values = Tensor(), Indices = Tensor(), Dims = { Int(), Int() } };

    private ValueInfoProto ValueInfo(TypeProto type) => new()
    {
        Name = Str("value"),
        Type = type,
        DocString = Str("value-doc"),
        MetadataProps = { Entry() },
    };

    private TensorShapeProto Shape() => new()
    {
        Dim =
        {
            new TensorShapeProto.Types.Dimension { DimValue = Int(), Denotation = Str("DATA_BATCH") },
            new TensorShapeProto.Types.Dimension { DimParam = Str("dim-param"), Denotation = Str("DATA_CHANNEL") },
        },
    };

    private TypeProto TensorTypeProto() => new()
    {
        TensorType = new TypeProto.Types.Tensor { ElemType = Int(), Shape = Shape() },
        Denotation = Str("TENSOR"),
    };

    /// <summary>A type proto of each kind (the kinds are a oneof), each with a denotation.</summary>
    private IEnumerable<TypeProto> EveryKindOfType()
    {
        yield return TensorTypeProto();
        yield return new TypeProto
        {
            SparseTensorType = new TypeProto.Types.SparseTensor { ElemType = Int(), Shape = Shape() },
            Denotation = Str("sparse"),
        };
        yield return new TypeProto
        {
            SequenceType = new TypeProto.Types.Sequence { ElemType = TensorTypeProto() },
            Denotation = Str("sequence"),
        };
        yield return new TypeProto
        {
            MapType = new TypeProto.Types.Map { KeyType = Int(), ValueType = TensorTypeProto() },
            Denotation = Str("map"),
        };
        yield return new TypeProto
        {
            OptionalType = new TypeProto.Types.Optional { ElemType = TensorTypeProto() },
            Denotation = Str("optional"),
        };
        yield return new TypeProto
        {
            OpaqueType = new TypeProto.Types.Opaque { Domain = Str("opaque-domain"), Name = Str("opaque") },
            Denotation = Str("opaque-denotation"),
        };
    }

    private FunctionProto Function()
    {
        var function = new FunctionProto
        {
            Name = Str("function"),
            Input = { Str("function-in"), Str("function-in") },
            Output = { Str("function-out") },
            Attribute = { Str("function-attr") },
            DocString = Str("function-doc"),
            OpsetImport = { Opset() },
            Domain = Str("function-domain"),
            Overload = Str("function-overload"),
            MetadataProps = { Entry() },
        };
        function.AttributeProto.AddRange(Attributes(depth: 2));
        function.Node.Add(Node(depth: 2));
        foreach (var type in EveryKindOfType()) function.ValueInfo.Add(ValueInfo(type));
        return function;
    }
}
