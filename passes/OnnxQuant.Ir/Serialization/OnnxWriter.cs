using Google.Protobuf;
using OnnxQuant.Onnx.Proto;

namespace OnnxQuant.Ir.Serialization;

/// <summary>
/// Writes the IR as ONNX. Output is deterministic (same IR, same bytes: fields in schema order, tensors as raw_data,
/// external data laid out in model order) and atomic (temporary files renamed into place only when complete).
/// </summary>
public static class OnnxWriter
{
    /// <summary>Data in external files is aligned so that ONNX Runtime can map it directly.</summary>
    private const int SmallAlignment = 64;
    private const int PageAlignment = 4096;

    public static void Write(Model model, string path, OnnxWriteOptions? options = null)
    {
        options ??= OnnxWriteOptions.Default;
        string fullPath = Path.GetFullPath(path);
        bool external = options.ExternalData || TotalTensorBytes(model) > options.AutoExternalLimit;
        using var atomic = new AtomicFile();
        ExternalDataSink? sink = null;
        if (external)
        {
            string dataName = options.DataFileName ?? Path.GetFileName(fullPath) + ".data";
            if (Path.IsPathRooted(dataName) || dataName.Split('/', '\\').Contains(".."))
                throw new OnnxQuantException($"External data file name '{dataName}' must be a plain name inside the model's folder.");
            string dataPath = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(fullPath)!, dataName));
            if (model.MappedFiles.Any(f => string.Equals(Path.GetFullPath(f.Path), dataPath, StringComparison.Ordinal)))
                throw new OnnxQuantException(
                    $"Cannot write external data to {dataPath}: the model being written reads its weights from that file. Choose another output name.");
            sink = new ExternalDataSink(atomic.Create(dataPath), dataName, options.SizeThreshold);
        }
        var proto = ToProto(model, sink);
        sink?.Finish();
        using (var stream = atomic.Create(fullPath))
        {
            if (proto.CalculateSize() < 0)
                throw new OnnxQuantException($"The model is over 2 GB even with external data above {options.SizeThreshold} bytes; lower the threshold.");
            proto.WriteTo(stream);
            stream.Flush(flushToDisk: true);
        }
        atomic.Commit();
    }

    /// <summary>The model as protobuf bytes, all tensors inline (e.g. to hand to ONNX Runtime).</summary>
    public static byte[] ToBytes(Model model) => ToProto(model, null).ToByteArray();

    public static ModelProto ToProto(Model model, ExternalDataSink? sink = null)
    {
        var w = new Writer(sink);
        var proto = new ModelProto { IrVersion = model.IrVersion };
        foreach (var o in model.OpsetImports) proto.OpsetImport.Add(new OperatorSetIdProto { Domain = o.Domain, Version = o.Version });
        if (model.ProducerName is not null) proto.ProducerName = model.ProducerName;
        if (model.ProducerVersion is not null) proto.ProducerVersion = model.ProducerVersion;
        if (model.Domain is not null) proto.Domain = model.Domain;
        if (model.ModelVersion is long mv) proto.ModelVersion = mv;
        if (model.DocString is not null) proto.DocString = model.DocString;
        proto.Graph = w.WriteGraph(model.Graph);
        proto.MetadataProps.AddRange(Entries(model.Metadata));
        proto.TrainingInfo.AddRange(model.TrainingInfo.Select(t => t.Clone()));
        foreach (var f in model.Functions) proto.Functions.Add(w.WriteFunction(f));
        proto.Configuration.AddRange(model.DeviceConfigurations.Select(c => c.Clone()));
        UnknownFields.Attach(proto, model.UnknownFields);
        return proto;
    }

    /// <summary>Bytes of every constant tensor in the model (graphs, subgraphs, attributes), to decide on external data.</summary>
    public static long TotalTensorBytes(Model model)
    {
        long total = 0;
        foreach (var g in model.AllGraphs())
        {
            foreach (var c in g.Constants) total += c.Const!.ByteLength;
            foreach (var n in g.Nodes)
                foreach (var a in n.Attributes)
                    if (a.Value is Tensor t) total += t.ByteLength;
        }
        return total;
    }

    internal static IEnumerable<StringStringEntryProto> Entries(IEnumerable<KeyValuePair<string, string>> entries) =>
        entries.Select(e => new StringStringEntryProto { Key = e.Key, Value = e.Value });

    /// <summary>Collects tensor bytes into one data file, aligned, in the order tensors are written.</summary>
    public sealed class ExternalDataSink(FileStream stream, string location, long threshold)
    {
        public bool TryPlace(Tensor tensor, TensorProto proto)
        {
            if (tensor.ByteLength < threshold) return false;
            int alignment = tensor.ByteLength >= (1 << 20) ? PageAlignment : SmallAlignment;
            long offset = (stream.Position + alignment - 1) / alignment * alignment;
            if (offset > stream.Position) stream.Write(new byte[offset - stream.Position]);
            tensor.Storage!.CopyTo(stream);
            proto.DataLocation = TensorProto.Types.DataLocation.External;
            proto.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = location });
            proto.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = offset.ToString(System.Globalization.CultureInfo.InvariantCulture) });
            proto.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = tensor.ByteLength.ToString(System.Globalization.CultureInfo.InvariantCulture) });
            return true;
        }

        internal void Finish()
        {
            stream.Flush(flushToDisk: true);
            stream.Dispose();
        }
    }

    private sealed class Writer(ExternalDataSink? sink)
    {
        public GraphProto WriteGraph(Graph graph)
        {
            var gp = new GraphProto();
            if (graph.Name is not null) gp.Name = graph.Name;
            if (graph.DocString is not null) gp.DocString = graph.DocString;
            foreach (var c in graph.Constants)
            {
                var t = c.Const!;
                if (t.SparseForm is { } sparse) gp.SparseInitializer.Add(TensorCodec.EncodeSparse(sparse, NameOf(c)));
                else gp.Initializer.Add(TensorCodec.Encode(t, NameOf(c), sink is null ? null : sink.TryPlace));
            }
            foreach (var v in graph.Inputs) gp.Input.Add(ValueInfo(v));
            foreach (var n in graph.Nodes)
            {
                gp.Node.Add(WriteNode(n));
                foreach (var o in n.Outputs)
                    if (o?.Type is not null && !graph.Outputs.Contains(o)) gp.ValueInfo.Add(ValueInfo(o));
            }
            foreach (var v in graph.Outputs) gp.Output.Add(ValueInfo(v));
            gp.QuantizationAnnotation.AddRange(graph.QuantizationAnnotations.Select(a => a.Clone()));
            gp.MetadataProps.AddRange(Entries(graph.Metadata));
            UnknownFields.Attach(gp, graph.UnknownFields);
            return gp;
        }

        public FunctionProto WriteFunction(Function f)
        {
            var fp = new FunctionProto { Name = f.Name, Domain = f.Domain };
            if (f.Overload is not null) fp.Overload = f.Overload;
            if (f.DocString is not null) fp.DocString = f.DocString;
            fp.Input.AddRange(f.Body.Inputs.Select(NameOf));
            fp.Output.AddRange(f.Body.Outputs.Select(NameOf));
            fp.Attribute.AddRange(f.AttributeNames);
            foreach (var a in f.AttributeDefaults) fp.AttributeProto.Add(WriteAttribute(a));
            foreach (var n in f.Body.Nodes)
            {
                fp.Node.Add(WriteNode(n));
                foreach (var o in n.Outputs)
                    if (o?.Type is not null) fp.ValueInfo.Add(ValueInfo(o));
            }
            foreach (var o in f.OpsetImports) fp.OpsetImport.Add(new OperatorSetIdProto { Domain = o.Domain, Version = o.Version });
            fp.MetadataProps.AddRange(Entries(f.Metadata));
            return fp;
        }

        private NodeProto WriteNode(Node n)
        {
            var np = new NodeProto { OpType = n.OpType };
            np.Input.AddRange(n.Inputs.Select(v => v is null ? "" : NameOf(v)));
            np.Output.AddRange(n.Outputs.Select(v => v is null ? "" : NameOf(v)));
            if (n.Name is not null) np.Name = n.Name;
            if (n.Domain.Length > 0) np.Domain = n.Domain;
            if (n.Overload is not null) np.Overload = n.Overload;
            foreach (var a in n.Attributes) np.Attribute.Add(WriteAttribute(a));
            if (n.DocString is not null) np.DocString = n.DocString;
            np.MetadataProps.AddRange(Entries(n.Metadata));
            np.DeviceConfigurations.AddRange(n.DeviceConfigurations.Select(d => d.Clone()));
            UnknownFields.Attach(np, n.UnknownFields);
            return np;
        }

        private AttributeProto WriteAttribute(Attribute a)
        {
            var ap = new AttributeProto { Name = a.Name, Type = (AttributeProto.Types.AttributeType)a.Kind };
            if (a.DocString is not null) ap.DocString = a.DocString;
            UnknownFields.Attach(ap, a.UnknownFields);   // written after the known fields whenever they are set
            if (a.RefAttrName is not null)
            {
                ap.RefAttrName = a.RefAttrName;
                return ap;
            }
            switch (a.Value)
            {
                case float f: ap.F = f; break;
                case long i: ap.I = i; break;
                case byte[] s: ap.S = ByteString.CopyFrom(s); break;
                case Tensor t when a.Kind == AttributeKind.SparseTensor:
                    ap.SparseTensor = TensorCodec.EncodeSparse(t.SparseForm ?? throw Internal(a), null);
                    break;
                case Tensor t: ap.T = TensorCodec.Encode(t, null); break;
                case Graph g: ap.G = WriteGraph(g); break;
                case IrType tp: ap.Tp = TypeCodec.Encode(tp); break;
                case float[] fs: ap.Floats.AddRange(fs); break;
                case long[] ints: ap.Ints.AddRange(ints); break;
                case byte[][] ss: ap.Strings.AddRange(ss.Select(ByteString.CopyFrom)); break;
                case Tensor[] ts when a.Kind == AttributeKind.SparseTensors:
                    ap.SparseTensors.AddRange(ts.Select(t => TensorCodec.EncodeSparse(t.SparseForm ?? throw Internal(a), null)));
                    break;
                case Tensor[] ts: ap.Tensors.AddRange(ts.Select(t => TensorCodec.Encode(t, null))); break;
                case Graph[] gs: ap.Graphs.AddRange(gs.Select(WriteGraph)); break;
                case IrType[] tps: ap.TypeProtos.AddRange(tps.Select(TypeCodec.Encode)); break;
                default: throw Internal(a);
            }
            return ap;
        }

        private static InvalidOperationException Internal(Attribute a) =>
            new($"Attribute '{a.Name}' of kind {a.Kind} holds a {a.Value?.GetType().Name ?? "null"}, which cannot be written.");

        private static ValueInfoProto ValueInfo(Value v)
        {
            var vi = new ValueInfoProto { Name = NameOf(v) };
            if (v.Type is not null) vi.Type = TypeCodec.Encode(v.Type);
            else if (v.Const is { } t && t.ElementType != DataType.Undefined)
                vi.Type = TypeCodec.Encode(new TensorType(t.ElementType, new Shape(t.Dims.ToArray())));
            if (v.DocString is not null) vi.DocString = v.DocString;
            vi.MetadataProps.AddRange(Entries(v.Metadata));
            UnknownFields.Attach(vi, v.UnknownFields);
            return vi;
        }

        private static string NameOf(Value v) =>
            v.Name ?? throw new InvalidOperationException("A value without a name reached the writer; add it to a graph first.");
    }
}
