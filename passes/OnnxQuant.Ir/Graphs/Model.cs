namespace OnnxQuant.Ir;

/// <summary>
/// A whole ONNX model: header fields, the main graph, model-local functions, and what we carry through unchanged
/// (training info, device configurations). <see cref="BaseDirectory"/> is where external data was read from.
/// </summary>
public sealed class Model : IDisposable
{
    public Model(Graph graph) => Graph = graph;

    public long IrVersion { get; set; } = 10;

    /// <summary>Operator sets in file order.</summary>
    public List<OpsetImport> OpsetImports { get; } = [];

    public string? ProducerName { get; set; }
    public string? ProducerVersion { get; set; }
    public string? Domain { get; set; }
    public long? ModelVersion { get; set; }
    public string? DocString { get; set; }
    public List<KeyValuePair<string, string>> Metadata { get; } = [];

    /// <summary>The main graph; it knows this model (<see cref="Graph.AddWeight"/> streams through it).</summary>
    public Graph Graph
    {
        get => _graph;
        [System.Diagnostics.CodeAnalysis.MemberNotNull(nameof(_graph))]
        set
        {
            _graph = value;
            value.OwnerModel = this;
        }
    }
    private Graph _graph;

    public List<Function> Functions { get; } = [];

    /// <summary>ONNX <c>TrainingInfoProto</c> entries, carried through unchanged (they refer to tensors by name).</summary>
    public List<Onnx.Proto.TrainingInfoProto> TrainingInfo { get; } = [];

    /// <summary>ONNX <c>DeviceConfigurationProto</c> entries, carried through unchanged.</summary>
    public List<Onnx.Proto.DeviceConfigurationProto> DeviceConfigurations { get; } = [];

    /// <summary>Fields of the ModelProto our schema does not define (a newer ONNX's), written back unchanged: see Serialization.UnknownFields.</summary>
    internal byte[]? UnknownFields { get; set; }

    /// <summary>The folder the model was read from; external data locations are relative to it.</summary>
    public string? BaseDirectory { get; set; }

    /// <summary>Mapped external data files, released on <see cref="Dispose"/>.</summary>
    internal List<MappedDataFile> MappedFiles { get; } = [];

    private ScratchTensorFile? _scratch;

    /// <summary>
    /// A temporary file for tensors a streaming pass makes (created on first use, closed on <see cref="Dispose"/>):
    /// see <see cref="ScratchTensorFile"/>.
    /// </summary>
    public ScratchTensorFile Scratch => _scratch ??= new ScratchTensorFile();

    /// <summary>True when some constant's bytes are mapped from external data: the model may be larger than memory,
    /// and passes that can work one weight at a time should (release mapped pages, keep their results in <see cref="Scratch"/>).</summary>
    public bool Streams => MappedFiles.Count > 0;

    /// <summary>Tensors a pass makes that are at least this large (the writer's default external-data threshold) wait
    /// for the writer in <see cref="Scratch"/> when the model streams.</summary>
    public const long ScratchThreshold = 1024;

    /// <summary>
    /// A tensor a pass made, ready to become a constant: on a model that streams (<see cref="Streams"/>) a tensor of
    /// at least <see cref="ScratchThreshold"/> bytes is moved to <see cref="Scratch"/> at once, so a pass that rewrites
    /// a model larger than memory one weight at a time never accumulates its results in memory; otherwise the tensor
    /// itself. The bytes, and so the written model, are the same either way.
    /// </summary>
    public Tensor KeepOnDisk(Tensor tensor) => Streams && tensor.ByteLength >= ScratchThreshold ? Scratch.Place(tensor) : tensor;

    /// <summary>The version of <paramref name="domain"/> this model imports, or null.</summary>
    public long? GetOpset(string domain = "")
    {
        string d = domain == "ai.onnx" ? "" : domain;
        return OpsetImports.FirstOrDefault(o => (o.Domain == "ai.onnx" ? "" : o.Domain) == d)?.Version;
    }

    /// <summary>Sets (or adds) the version of <paramref name="domain"/>, keeping the import's position.</summary>
    public void SetOpset(string domain, long version)
    {
        string d = domain == "ai.onnx" ? "" : domain;
        int i = OpsetImports.FindIndex(o => (o.Domain == "ai.onnx" ? "" : o.Domain) == d);
        if (i >= 0) OpsetImports[i] = OpsetImports[i] with { Version = version };
        else OpsetImports.Add(new OpsetImport(domain, version));
    }

    /// <summary>Every graph in the model: the main graph, subgraphs, and function bodies.</summary>
    public IEnumerable<Graph> AllGraphs()
    {
        foreach (var g in GraphAndSubgraphs(Graph)) yield return g;
        foreach (var f in Functions)
            foreach (var g in GraphAndSubgraphs(f.Body)) yield return g;
    }

    private static IEnumerable<Graph> GraphAndSubgraphs(Graph g)
    {
        yield return g;
        foreach (var n in g.Nodes)
            foreach (var sub in n.Subgraphs)
                foreach (var inner in GraphAndSubgraphs(sub)) yield return inner;
    }

    /// <summary>Unmaps external data files. Tensors read from them must not be used afterwards.</summary>
    public void Dispose()
    {
        foreach (var f in MappedFiles) f.Dispose();
        MappedFiles.Clear();
        _scratch?.Dispose();
        _scratch = null;
    }
}
