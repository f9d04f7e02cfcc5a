using System.Globalization;
using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Canonicalization.OpsetUpgrade;

/// <summary>
/// What converters use while one model is upgraded: the opsets involved, facts about values, helpers that add
/// (deduplicated) constants and helper nodes, and the error every refusal goes through so that it names the node.
/// </summary>
internal sealed class UpgradeContext
{
    private readonly Dictionary<(Graph, string), Value> _constants = [];
    private readonly List<(Node Node, int Version)> _created = [];
    private readonly HashSet<string> _nodeNames;

    public UpgradeContext(Model model, long fromOpset, long targetOpset, PassContext pass)
    {
        FromOpset = fromOpset;
        TargetOpset = targetOpset;
        Pass = pass;
        // ONNX Runtime refuses two nodes with the same name, so helper nodes get names no node has.
        _nodeNames = model.AllGraphs().SelectMany(g => g.Nodes).Select(n => n.Name).OfType<string>().ToHashSet(StringComparer.Ordinal);
    }

    public long FromOpset { get; }
    public long TargetOpset { get; }
    public PassContext Pass { get; }
    public ValueFacts Facts { get; } = new();

    /// <summary>Helper nodes created since the last call, with the schema version they were built for.</summary>
    public List<(Node Node, int Version)> TakeCreated()
    {
        var list = _created.ToList();
        _created.Clear();
        return list;
    }

    /// <summary>
    /// Inserts a helper node before <paramref name="anchor"/> in its graph, built for the schema of
    /// <paramref name="version"/>; it is upgraded from there to the target like any other node.
    /// </summary>
    public Node InsertBefore(Node anchor, int version, string opType, IEnumerable<Value?> inputs,
        IEnumerable<Attribute>? attributes = null, int outputCount = 1, string? nameSuffix = null)
    {
        var graph = anchor.Graph ?? throw new InvalidOperationException($"{anchor} is not in a graph.");
        string? name = anchor.Name is { Length: > 0 } n ? UniqueNodeName($"{n}/{nameSuffix ?? opType}") : null;
        var node = new Node(opType, inputs, outputCount, "", attributes, name);
        graph.InsertBefore(anchor, node);
        _created.Add((node, version));
        return node;
    }

    private string UniqueNodeName(string wanted)
    {
        string name = wanted;
        for (int i = 1; !_nodeNames.Add(name); i++) name = $"{wanted}_{i}";
        return name;
    }

    /// <summary>Replaces <paramref name="old"/> by <paramref name="replacement"/> (already in the graph): its outputs take
    /// over the uses, names and types of the old outputs, and the old node is removed.</summary>
    public static void Replace(Node old, Node replacement)
    {
        for (int i = 0; i < old.Outputs.Count; i++)
        {
            if (old.Outputs[i] is not { } before) continue;
            var after = i < replacement.Outputs.Count ? replacement.Outputs[i] : null;
            if (after is null)
            {
                if (before.Uses.Count > 0 || before.IsAnyGraphOutput)
                    throw new InvalidOperationException($"Internal error: output {i} of {old} is used but has no replacement.");
                continue;
            }
            after.Type ??= before.Type;
            before.ReplaceAllUsesWith(after);
        }
        old.Graph!.Remove(old);
    }

    /// <summary>A 1-D int64 constant (shared by every node of the graph that needs the same values).</summary>
    public Value Int64s(Graph graph, IReadOnlyList<long> values, string hint = "axes") =>
        Constant(graph, Tensor.FromInt64s(values.ToArray(), values.Count), hint);

    /// <summary>A constant of <paramref name="type"/> holding <paramref name="values"/> (rounded like ONNX's Cast).</summary>
    public Value Numbers(Graph graph, DataType type, IReadOnlyList<double> values, long[] dims, string hint) =>
        Constant(graph, TensorConversions.FromDoubles(type, values.ToArray(), dims), hint);

    public Value Constant(Graph graph, Tensor tensor, string hint)
    {
        string key = $"{(int)tensor.ElementType}|{string.Join(",", tensor.Dims)}|{System.Convert.ToHexString(tensor.RawData.Span)}";
        if (_constants.TryGetValue((graph, key), out var existing) && existing.Graph == graph) return existing;
        var value = graph.AddConstant(tensor, graph.FreshName(hint));
        _constants[(graph, key)] = value;
        return value;
    }

    /// <summary>The error for a node this pass cannot convert: what, where, and what the user can do.</summary>
    public OnnxQuantException Unsupported(Node node, int version, string reason, string? fix = null) =>
        new(UpgradeErrors.Describe(node, FromOpset, TargetOpset) +
            $": {node.OpType} changed at opset {version.ToString(CultureInfo.InvariantCulture)} " +
            $"({OpsetHistory.Describe(node.OpType, version)}), and {reason}. " +
            (fix ?? $"Export the model at opset {version} or later, or choose a target opset below {version}."));
}
