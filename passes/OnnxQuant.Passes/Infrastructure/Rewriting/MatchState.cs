using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Rewriting;

/// <summary>
/// Bindings and covered nodes while a tree pattern is being matched, with save/restore for backtracking (commutative
/// inputs), and the failure that got furthest, which is the one worth reporting.
/// </summary>
internal sealed class MatchState
{
    private string? _bestReason;
    private int _bestDepth = -1;

    public MatchState(Node root) => Graph = root.Graph;

    public Graph? Graph { get; }
    public Dictionary<string, Value> Values { get; private set; } = new(StringComparer.Ordinal);
    public Dictionary<string, Node> Nodes { get; private set; } = new(StringComparer.Ordinal);
    public List<Node> Covered { get; } = [];

    /// <summary>Where in the pattern matching is, as "Div input 0", "Mul input 1" …, for failure reasons.</summary>
    public List<string> Path { get; } = [];

    public string FailureReason => _bestReason ?? "no match";

    /// <summary>Records a failure (if it got further than earlier ones) and returns false.</summary>
    public bool Fail(string reason)
    {
        if (Covered.Count > _bestDepth)
        {
            _bestDepth = Covered.Count;
            _bestReason = Path.Count == 0 ? reason : $"{string.Join(" → ", Path)}: {reason}";
        }
        return false;
    }

    /// <summary>Binds a name, or checks that a repeated name refers to the same value.</summary>
    public bool Bind(string name, Value value) =>
        Values.TryGetValue(name, out var bound)
            ? ReferenceEquals(bound, value) || Fail($"'{name}' appears twice in the pattern but these are different values")
            : Values.TryAdd(name, value);

    public (int Covered, Dictionary<string, Value> Values, Dictionary<string, Node> Nodes) Save() =>
        (Covered.Count, new(Values, StringComparer.Ordinal), new(Nodes, StringComparer.Ordinal));

    public void Restore((int Covered, Dictionary<string, Value> Values, Dictionary<string, Node> Nodes) saved)
    {
        Covered.RemoveRange(saved.Covered, Covered.Count - saved.Covered);
        Values = saved.Values;
        Nodes = saved.Nodes;
    }
}
