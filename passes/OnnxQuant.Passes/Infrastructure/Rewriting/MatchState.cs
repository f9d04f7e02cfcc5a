using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Rewriting;

/// <summary>
/// Bindings and covered nodes while a tree pattern is being matched, with save/restore for backtracking (commutative
/// inputs, alternatives), and the failure that got furthest, which is the one worth reporting. When the pattern is
/// anchored, <see cref="Anchor"/> names the pattern node that must match the node the driver offered.
/// </summary>
internal sealed class MatchState
{
    private readonly List<KeyValuePair<string, Value>> _values = [];
    private readonly List<KeyValuePair<string, Node>> _nodes = [];
    private string? _bestReason;
    private int _bestDepth = -1;

    public MatchState(Graph? graph) => Graph = graph;

    public Graph? Graph { get; }
    public List<Node> Covered { get; } = [];

    /// <summary>The anchor pattern and the node it must match; null when the tree is matched from its root.</summary>
    public (OpPattern Pattern, Node Node)? Anchor { get; set; }

    public string FailureReason => _bestReason ?? "no match";

    /// <summary>
    /// Records a failure at <paramref name="path"/> (if it got further than earlier ones) and returns false. A
    /// <paramref name="refusal"/> — a complete structural match refused by the pattern's check or the intermediate
    /// rule — outranks every partial match: why a whole candidate was refused is what a user needs to know.
    /// </summary>
    public bool Fail(string reason, MatchPath? path = null, bool refusal = false)
    {
        int depth = refusal ? int.MaxValue / 2 + Covered.Count : Covered.Count;
        if (depth > _bestDepth)
        {
            _bestDepth = depth;
            _bestReason = path is null ? reason : $"{path}: {reason}";
        }
        return false;
    }

    public bool TryGetValue(string name, out Value value)
    {
        foreach (var (k, v) in _values)
            if (k == name) { value = v; return true; }
        value = null!;
        return false;
    }

    /// <summary>Binds a name, or checks that a repeated name refers to the same value.</summary>
    public bool Bind(string name, Value value, MatchPath? path)
    {
        if (TryGetValue(name, out var bound))
            return ReferenceEquals(bound, value) || Fail($"'{name}' appears twice in the pattern but these are different values", path);
        _values.Add(new(name, value));
        return true;
    }

    public void BindNode(string name, Node node) => _nodes.Add(new(name, node));

    public (int Covered, int Values, int Nodes) Save() => (Covered.Count, _values.Count, _nodes.Count);

    public void Restore((int Covered, int Values, int Nodes) saved)
    {
        Covered.RemoveRange(saved.Covered, Covered.Count - saved.Covered);
        _values.RemoveRange(saved.Values, _values.Count - saved.Values);
        _nodes.RemoveRange(saved.Nodes, _nodes.Count - saved.Nodes);
    }

    /// <summary>The successful match as it stands: <paramref name="root"/> first, then every covered node.</summary>
    public MatchResult ToResult(Node root) => MatchResult.Success(root, Covered,
        _values.ToDictionary(StringComparer.Ordinal), _nodes.DistinctBy(p => p.Key).ToDictionary(StringComparer.Ordinal));
}

/// <summary>Where in a pattern matching is, as "Div input 0 → Mul input 1", for failure reasons; immutable, so continuations keep theirs.</summary>
internal sealed record MatchPath(MatchPath? Parent, string Step)
{
    public override string ToString() => Parent is null ? Step : $"{Parent} → {Step}";
}
