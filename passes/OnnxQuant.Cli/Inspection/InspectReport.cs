namespace OnnxQuant.Cli.Inspection;

/// <summary>
/// What <c>onnxquant inspect</c> reports, and the exact shape of <c>--json</c> (property names are these, camelCased;
/// documented in passes/OnnxQuant.Cli/docs/inspect-json.md). Bump <see cref="SchemaVersion"/> when a property changes meaning or goes away;
/// adding a property does not change it.
/// </summary>
internal sealed record InspectReport
{
    public const int CurrentSchemaVersion = 1;

    public int SchemaVersion { get; init; } = CurrentSchemaVersion;

    /// <summary>The model path as given on the command line.</summary>
    public required string File { get; init; }

    public required long FileBytes { get; init; }
    public required long IrVersion { get; init; }

    /// <summary>Opset imports in file order; the default ONNX domain is "".</summary>
    public required IReadOnlyList<OpsetEntry> Opsets { get; init; }

    public string? ProducerName { get; init; }
    public string? ProducerVersion { get; init; }
    public string? Domain { get; init; }
    public long? ModelVersion { get; init; }

    /// <summary>Graph inputs that are not initializers (what a caller must feed).</summary>
    public required IReadOnlyList<ValueEntry> Inputs { get; init; }

    public required IReadOnlyList<ValueEntry> Outputs { get; init; }

    /// <summary>Graph inputs that also have an initializer (old exporters list every weight as an input).</summary>
    public required int ConstantInputs { get; init; }

    public required NodeCounts Nodes { get; init; }

    /// <summary>Op-type histogram, most frequent first (ties by domain, then op type).</summary>
    public required IReadOnlyList<OpEntry> Ops { get; init; }

    /// <summary>Model-local functions.</summary>
    public required IReadOnlyList<FunctionEntry> Functions { get; init; }

    public required ParameterSummary Parameters { get; init; }

    /// <summary>External data files the tensors are read from; empty when every tensor is inside the model file.</summary>
    public required IReadOnlyList<ExternalDataEntry> ExternalData { get; init; }

    public required VerifierSummary Verifier { get; init; }

    /// <summary>
    /// The model's metadata_props in file order, including how onnxquant made it (<c>onnxquant.version</c>,
    /// <c>onnxquant.recipe</c>, <c>onnxquant.recipe_sha256</c>, <c>onnxquant.seed</c>, <c>onnxquant.calibration</c>).
    /// </summary>
    public IReadOnlyList<MetadataEntry> Metadata { get; init; } = [];

    internal sealed record MetadataEntry(string Key, string Value);

    internal sealed record OpsetEntry(string Domain, long Version);

    /// <summary>
    /// A graph input or output. <see cref="Type"/> is the whole type as text (<c>float[batch,3,48,?]</c>);
    /// <see cref="ElementType"/> and <see cref="Shape"/> are null for non-tensor types or when the model does not say.
    /// Shape entries are numbers (known), strings (symbolic, by name) or null (unknown).
    /// </summary>
    internal sealed record ValueEntry(string Name, string Type, string? ElementType, IReadOnlyList<object?>? Shape);

    /// <summary>
    /// Node counts: <see cref="MainGraph"/> counts nodes of the main graph only, <see cref="Subgraphs"/> nodes inside
    /// If/Loop/Scan bodies (at any depth) of the main graph, <see cref="Functions"/> nodes of model-local function
    /// bodies (and their subgraphs). <see cref="SubgraphCount"/> is the number of subgraphs.
    /// </summary>
    internal sealed record NodeCounts(int MainGraph, int Subgraphs, int Functions, int Total, int SubgraphCount, int FunctionCount);

    /// <summary>One op type: <c>Domain</c> "" is the default ONNX domain; counts split as in <see cref="NodeCounts"/>.</summary>
    internal sealed record OpEntry(string Domain, string OpType, int Total, int MainGraph, int Subgraphs, int Functions);

    internal sealed record FunctionEntry(string Domain, string Name, int Nodes);

    /// <summary>
    /// Constant tensors: initializers (graph constants) and values of Constant nodes, in every graph, subgraph and
    /// function body. <see cref="Elements"/> counts scalars ("parameters"); <see cref="Bytes"/> is the stored size.
    /// </summary>
    internal sealed record ParameterSummary(
        int Tensors, long Elements, long Bytes, int Initializers, int ConstantNodes, IReadOnlyList<ParameterEntry> ByElementType);

    internal sealed record ParameterEntry(string ElementType, int Tensors, long Elements, long Bytes);

    /// <summary>
    /// One external data file: <see cref="File"/> relative to the model's folder, its size, and how many tensors and
    /// bytes of it the model uses.
    /// </summary>
    internal sealed record ExternalDataEntry(string File, long FileBytes, int Tensors, long Bytes);

    /// <summary><see cref="Status"/>: "passed", "failed" (see <see cref="Problems"/>) or "unavailable".</summary>
    internal sealed record VerifierSummary(string Status, IReadOnlyList<string> Problems);
}
