using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Analysis.ShapeInference;

/// <summary>What one shape inference run did and how much of the model it covers.</summary>
public sealed class ShapeInferenceStats
{
    private readonly List<string> _conflicts = [];
    private readonly Dictionary<string, int> _unsupported = new(StringComparer.Ordinal);
    private readonly HashSet<Value> _conflicted = new(ReferenceEqualityComparer.Instance);
    private readonly HashSet<Node> _unsupportedNodes = new(ReferenceEqualityComparer.Instance);

    /// <summary>Values whose type inference added to (element type, rank or a dimension).</summary>
    public int Refined { get; internal set; }

    /// <summary>Values where inference disagreed with a type the model declares (the declared one was kept).</summary>
    public IReadOnlyList<string> Conflicts => _conflicts;

    /// <summary>Nodes with no shape rule, by op type (<c>domain.Op</c> outside the default domain).</summary>
    public IReadOnlyDictionary<string, int> UnsupportedOps => _unsupported;

    /// <summary>Tensor outputs of the main graph's nodes, and how many of them have a fully known shape.</summary>
    public int Values { get; internal set; }

    public int StaticValues { get; internal set; }

    /// <summary>Main-graph node outputs with an element type.</summary>
    public int TypedValues { get; internal set; }

    /// <summary>Sweeps over the model until nothing changed.</summary>
    public int Sweeps { get; internal set; }

    public double StaticFraction => Values == 0 ? 1 : (double)StaticValues / Values;

    internal void AddConflict(Node node, Value value, IrType? declared, IrType inferred)
    {
        if (_conflicted.Add(value))
            _conflicts.Add($"{node} output {value}: the model declares {declared} but inference gives {inferred}");
    }

    internal void AddUnsupported(Node node)
    {
        if (!_unsupportedNodes.Add(node)) return;
        string key = node.IsDefaultDomain ? node.OpType : $"{node.Domain}.{node.OpType}";
        _unsupported[key] = _unsupported.GetValueOrDefault(key) + 1;
    }

    public override string ToString() =>
        $"{StaticValues}/{Values} values static, {TypedValues} typed, {Refined} refined, {_conflicts.Count} conflicts" +
        (_unsupported.Count == 0 ? "" : ", no rule for " + string.Join(", ", _unsupported.Select(kv => $"{kv.Key}×{kv.Value}")));
}
