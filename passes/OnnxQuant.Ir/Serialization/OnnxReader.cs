using Google.Protobuf;
using OnnxQuant.Onnx.Proto;

namespace OnnxQuant.Ir.Serialization;

/// <summary>
/// Reads ONNX files into the IR. Names in the file are resolved to object links once, here; nodes need not be in
/// topological order in the file; subgraphs may read values of enclosing graphs. External data is mapped, never read
/// whole. Every problem is an <see cref="OnnxFormatException"/> naming the file and the node or tensor.
/// </summary>
public static class OnnxReader
{
    public static Model Read(string path, OnnxReadOptions? options = null)
    {
        var proto = ReadProto(path);
        return FromProto(proto, Path.GetDirectoryName(Path.GetFullPath(path)), path, options);
    }

    /// <summary>Parses a file into the protobuf form only, with the same checks and messages as <see cref="Read"/>.</summary>
    public static ModelProto ReadProto(string path)
    {
        if (Directory.Exists(path))
            throw new OnnxFormatException($"{path} is a folder, not an ONNX model file.");
        if (!File.Exists(path))
            throw new OnnxFormatException($"{path}: no such file. Check the path (relative paths start at {Environment.CurrentDirectory}).");
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
            if (stream.Length > int.MaxValue)
                throw new OnnxFormatException(
                    $"{path} is {stream.Length} bytes; a protobuf over 2 GiB cannot be read. Save its weights as external data.");
            return ParseProto(stream, path);
        }
        catch (IOException e) when (e is not FileNotFoundException)
        {
            throw new OnnxFormatException($"{path}: cannot read the file: {e.Message}", e);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new OnnxFormatException($"{path}: permission denied: {e.Message}", e);
        }
    }

    public static Model Read(byte[] bytes, string? baseDirectory = null, OnnxReadOptions? options = null)
    {
        using var stream = new MemoryStream(bytes, writable: false);
        return FromProto(ParseProto(stream, "<memory>"), baseDirectory, "<memory>", options);
    }

    private static ModelProto ParseProto(Stream stream, string path)
    {
        ModelProto proto;
        try
        {
            proto = ModelProto.Parser.ParseFrom(stream);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new OnnxFormatException($"{path} is not a valid ONNX model (corrupt or truncated protobuf: {e.Message}).", e);
        }
        if (!proto.HasIrVersion || proto.Graph is null)
            throw new OnnxFormatException($"{path} is not an ONNX model: it has no {(proto.HasIrVersion ? "graph" : "IR version")}.");
        return proto;
    }

    public static Model FromProto(ModelProto proto, string? baseDirectory, string path = "<memory>", OnnxReadOptions? options = null)
    {
        options ??= OnnxReadOptions.Default;
        if (proto.IrVersion < 1 || proto.IrVersion > options.MaxIrVersion)
            throw new OnnxFormatException(
                $"{path} has IR version {proto.IrVersion}; OnnxQuant reads IR versions 1 to {options.MaxIrVersion}. " +
                "Re-export the model with a supported ONNX version.");
        var model = new Model(new Graph());
        try
        {
            var reader = new Reader(new ExternalDataResolver(baseDirectory, path, model), path, options);
            model.IrVersion = proto.IrVersion;
            foreach (var o in proto.OpsetImport) model.OpsetImports.Add(new OpsetImport(o.Domain, o.Version));
            if (proto.HasProducerName) model.ProducerName = proto.ProducerName;
            if (proto.HasProducerVersion) model.ProducerVersion = proto.ProducerVersion;
            if (proto.HasDomain) model.Domain = proto.Domain;
            if (proto.HasModelVersion) model.ModelVersion = proto.ModelVersion;
            if (proto.HasDocString) model.DocString = proto.DocString;
            model.Metadata.AddRange(Entries(proto.MetadataProps));
            model.UnknownFields = UnknownFields.Of(proto);
            model.BaseDirectory = baseDirectory;
            model.Graph = reader.ReadGraph(proto.Graph, null, liftConstants: options.LiftConstantNodes);
            foreach (var f in proto.Functions) model.Functions.Add(reader.ReadFunction(f));
            model.TrainingInfo.AddRange(proto.TrainingInfo.Select(t => t.Clone()));
            model.DeviceConfigurations.AddRange(proto.Configuration.Select(c => c.Clone()));
            // Subgraphs were read before their owners joined the graph: collect names afresh on first use.
            model.Graph.InvalidateNames();
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    internal static IEnumerable<KeyValuePair<string, string>> Entries(IEnumerable<StringStringEntryProto> entries) =>
        entries.Select(e => new KeyValuePair<string, string>(e.Key, e.Value));

    /// <summary>Names visible in one graph, chained to the enclosing graph's scope.</summary>
    private sealed class Scope(Scope? parent)
    {
        private readonly Dictionary<string, Value> _values = new(StringComparer.Ordinal);
        public bool TryDefine(string name, Value value) => _values.TryAdd(name, value);
        public bool DefinedHere(string name) => _values.ContainsKey(name);
        public Value? Find(string name) => _values.TryGetValue(name, out var v) ? v : parent?.Find(name);
    }

    private sealed class Reader(ExternalDataResolver external, string path, OnnxReadOptions options)
    {
        public Graph ReadGraph(GraphProto gp, Scope? parentScope, bool liftConstants, Graph? into = null)
        {
            var graph = into ?? new Graph();
            var scope = new Scope(parentScope);
            string graphName = gp.HasName ? $"graph '{gp.Name}'" : "the graph";
            if (gp.HasName) graph.Name = gp.Name;
            if (gp.HasDocString) graph.DocString = gp.DocString;
            graph.Metadata.AddRange(Entries(gp.MetadataProps));
            graph.QuantizationAnnotations.AddRange(gp.QuantizationAnnotation.Select(a => a.Clone()));
            graph.UnknownFields = UnknownFields.Of(gp);

            foreach (var tp in gp.Initializer)
            {
                var v = new Value(tp.Name) { Const = TensorCodec.Decode(tp, $"initializer '{tp.Name}' of {graphName}", external) };
                Define(scope, v, $"initializer of {graphName}");
                graph.AddConstantFromReader(v);
            }
            foreach (var sp in gp.SparseInitializer)
            {
                string name = sp.Values?.Name ?? "";
                var v = new Value(name) { Const = TensorCodec.DecodeSparse(sp, $"sparse initializer '{name}' of {graphName}", external) };
                Define(scope, v, $"sparse initializer of {graphName}");
                graph.AddConstantFromReader(v);
            }
            foreach (var vi in gp.Input)
            {
                // An input that is also an initializer is one value: a constant the caller may override.
                var v = scope.DefinedHere(vi.Name) ? scope.Find(vi.Name)! : new Value(vi.Name);
                ApplyValueInfo(v, vi);
                v.Graph = graph;
                if (v.Const is null) Define(scope, v, $"input of {graphName}");
                graph.Inputs.Add(v);
            }

            // Pass 1: create nodes and their outputs, so inputs can be resolved whatever the order in the file.
            var nodes = new List<(Node Node, NodeProto Proto)>(gp.Node.Count);
            for (int i = 0; i < gp.Node.Count; i++)
            {
                var np = gp.Node[i];
                var node = new Node(np.OpType, [], np.Output.Count, np.Domain, name: np.HasName ? np.Name : null,
                    outputNames: np.Output.ToArray());
                if (np.HasOverload) node.Overload = np.Overload;
                if (np.HasDocString) node.DocString = np.DocString;
                node.Metadata.AddRange(Entries(np.MetadataProps));
                node.DeviceConfigurations.AddRange(np.DeviceConfigurations.Select(d => d.Clone()));
                node.UnknownFields = UnknownFields.Of(np);
                foreach (var o in node.Outputs)
                    if (o is not null) Define(scope, o, $"output of {Describe(np, i)}");
                nodes.Add((node, np));
            }
            // Pass 2: inputs and attributes (subgraphs see every value of this graph).
            for (int i = 0; i < nodes.Count; i++)
            {
                var (node, np) = nodes[i];
                for (int k = 0; k < np.Input.Count; k++)
                {
                    string name = np.Input[k];
                    if (name.Length == 0) { node.AppendInput(null); continue; }
                    node.AppendInput(scope.Find(name) ?? throw new OnnxFormatException(
                        $"{path}: {Describe(np, i)} in {graphName} reads '{name}' (input {k}), which no node, input or initializer defines."));
                }
                foreach (var ap in np.Attribute) node.SetAttribute(ReadAttribute(ap, scope, $"{Describe(np, i)} in {graphName}"));
            }
            foreach (var (node, np) in nodes)
            {
                if (liftConstants && ConstantNode.TryGetTensor(node) is { } t && node.Outputs.Count == 1 && node.Outputs[0] is { } output)
                {
                    // The Constant node's output value becomes a constant: same object, so its uses stay intact.
                    output.Producer = null;
                    output.Const = t;
                    graph.AddConstantFromReader(output);
                    continue;
                }
                graph.Append(node);
            }
            foreach (var vi in gp.ValueInfo)
            {
                if (scope.Find(vi.Name) is { } v && v.Type is null) ApplyValueInfo(v, vi);
            }
            foreach (var vi in gp.Output)
            {
                var v = scope.Find(vi.Name) ?? throw new OnnxFormatException(
                    $"{path}: {graphName} lists output '{vi.Name}', which no node, input or initializer defines.");
                ApplyValueInfo(v, vi);
                graph.Outputs.Add(v);
            }
            return graph;
        }

        public Function ReadFunction(FunctionProto fp)
        {
            var body = new Graph { Name = fp.Name };
            var scope = new Scope(null);
            foreach (string name in fp.Input)
            {
                var v = new Value(name) { Graph = body };
                Define(scope, v, $"input of function '{fp.Name}'");
                body.Inputs.Add(v);
            }
            var fakeGraph = new GraphProto { Name = fp.Name };
            fakeGraph.Node.AddRange(fp.Node);
            fakeGraph.ValueInfo.AddRange(fp.ValueInfo);
            // Function bodies are read like graphs (without constant lifting: functions cannot hold initializers).
            ReadGraph(fakeGraph, scope, liftConstants: false, into: body);
            foreach (string name in fp.Output)
                body.Outputs.Add(FindInBody(body, name) ?? throw new OnnxFormatException(
                    $"{path}: function '{fp.Name}' lists output '{name}', which nothing in its body defines."));
            var function = new Function(fp.Name, fp.Domain, body);
            if (fp.HasOverload) function.Overload = fp.Overload;
            if (fp.HasDocString) function.DocString = fp.DocString;
            function.AttributeNames.AddRange(fp.Attribute);
            foreach (var ap in fp.AttributeProto) function.AttributeDefaults.Add(ReadAttribute(ap, scope, $"function '{fp.Name}'"));
            foreach (var o in fp.OpsetImport) function.OpsetImports.Add(new OpsetImport(o.Domain, o.Version));
            function.Metadata.AddRange(Entries(fp.MetadataProps));
            body.InvalidateNames();
            return function;
        }

        private static Value? FindInBody(Graph body, string name) =>
            body.Inputs.FirstOrDefault(v => v.Name == name)
            ?? body.Nodes.SelectMany(n => n.Outputs).FirstOrDefault(v => v?.Name == name);

        private Attribute ReadAttribute(AttributeProto ap, Scope scope, string where)
        {
            string what = $"attribute '{ap.Name}' of {where}";
            if (ap.HasRefAttrName)
                return new Attribute(ap.Name, (AttributeKind)ap.Type, null, ap.RefAttrName)
                    { DocString = ap.HasDocString ? ap.DocString : null, UnknownFields = UnknownFields.Of(ap) };
            var kind = ap.HasType ? (AttributeKind)ap.Type : InferKind(ap, what);
            object value = kind switch
            {
                AttributeKind.Float => ap.F,
                AttributeKind.Int => ap.I,
                AttributeKind.String => ap.S.ToByteArray(),
                AttributeKind.Tensor => TensorCodec.Decode(ap.T ?? throw Missing(what), what, external),
                AttributeKind.SparseTensor => TensorCodec.DecodeSparse(ap.SparseTensor ?? throw Missing(what), what, external),
                AttributeKind.Graph => ReadGraph(ap.G ?? throw Missing(what), scope, options.LiftConstantNodes),
                AttributeKind.TypeProto => TypeCodec.Decode(ap.Tp ?? throw Missing(what)),
                AttributeKind.Floats => ap.Floats.ToArray(),
                AttributeKind.Ints => ap.Ints.ToArray(),
                AttributeKind.Strings => ap.Strings.Select(s => s.ToByteArray()).ToArray(),
                AttributeKind.Tensors => ap.Tensors.Select((t, i) => TensorCodec.Decode(t, $"{what}[{i}]", external)).ToArray(),
                AttributeKind.SparseTensors => ap.SparseTensors.Select((t, i) => TensorCodec.DecodeSparse(t, $"{what}[{i}]", external)).ToArray(),
                AttributeKind.Graphs => ap.Graphs.Select(g => ReadGraph(g, scope, options.LiftConstantNodes)).ToArray(),
                AttributeKind.TypeProtos => ap.TypeProtos.Select(TypeCodec.Decode).ToArray(),
                _ => throw new OnnxFormatException($"{path}: {what} has unknown type {(int)kind}."),
            };
            return new Attribute(ap.Name, kind, value) { DocString = ap.HasDocString ? ap.DocString : null, UnknownFields = UnknownFields.Of(ap) };
        }

        private OnnxFormatException Missing(string what) => new($"{path}: {what} declares a value it does not carry.");

        /// <summary>IR version 1 files may omit the attribute type; infer it from the field that is set.</summary>
        private AttributeKind InferKind(AttributeProto ap, string what)
        {
            if (ap.HasF) return AttributeKind.Float;
            if (ap.HasI) return AttributeKind.Int;
            if (ap.HasS) return AttributeKind.String;
            if (ap.T is not null) return AttributeKind.Tensor;
            if (ap.G is not null) return AttributeKind.Graph;
            if (ap.SparseTensor is not null) return AttributeKind.SparseTensor;
            if (ap.Tp is not null) return AttributeKind.TypeProto;
            if (ap.Floats.Count > 0) return AttributeKind.Floats;
            if (ap.Ints.Count > 0) return AttributeKind.Ints;
            if (ap.Strings.Count > 0) return AttributeKind.Strings;
            if (ap.Tensors.Count > 0) return AttributeKind.Tensors;
            if (ap.Graphs.Count > 0) return AttributeKind.Graphs;
            if (ap.SparseTensors.Count > 0) return AttributeKind.SparseTensors;
            if (ap.TypeProtos.Count > 0) return AttributeKind.TypeProtos;
            throw new OnnxFormatException($"{path}: {what} has no type and no value.");
        }

        private void Define(Scope scope, Value v, string what)
        {
            if (string.IsNullOrEmpty(v.Name)) throw new OnnxFormatException($"{path}: an {what} has an empty name.");
            if (!scope.TryDefine(v.Name, v))
                throw new OnnxFormatException($"{path}: '{v.Name}' is defined twice (again as {what}); ONNX names must be unique.");
        }

        private static void ApplyValueInfo(Value v, ValueInfoProto vi)
        {
            if (vi.Type is not null) v.Type = TypeCodec.Decode(vi.Type);
            if (vi.HasDocString) v.DocString = vi.DocString;
            if (vi.MetadataProps.Count > 0 && v.Metadata.Count == 0) v.Metadata.AddRange(Entries(vi.MetadataProps));
            if (UnknownFields.Of(vi) is { } unknown) v.UnknownFields = unknown;
        }

        private static string Describe(NodeProto np, int index) =>
            np.HasName && np.Name.Length > 0 ? $"node '{np.Name}' ({np.OpType})" : $"node #{index} ({np.OpType})";
    }
}
