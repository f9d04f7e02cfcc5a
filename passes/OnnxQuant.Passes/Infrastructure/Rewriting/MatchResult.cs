using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Rewriting;

/// <summary>
/// The outcome of matching a pattern at a root node: either the nodes it covers (which a rewrite replaces) and the
/// values and nodes it captured by name, or the reason it does not match. Reasons name ops and input positions, not
/// nodes, so <c>--stats</c> can add up equal reasons.
/// </summary>
public sealed class MatchResult
{
    private static readonly Dictionary<string, Value> NoValues = [];
    private static readonly Dictionary<string, Node> NoNodes = [];

    private readonly IReadOnlyDictionary<string, Value> _values;
    private readonly IReadOnlyDictionary<string, Node> _nodes;

    private MatchResult(bool succeeded, string? reason, Node? root, IReadOnlyList<Node> covered,
        IReadOnlyDictionary<string, Value> values, IReadOnlyDictionary<string, Node> nodes)
    {
        Succeeded = succeeded;
        FailureReason = reason;
        _root = root;
        Nodes = covered;
        _values = values;
        _nodes = nodes;
    }

    public bool Succeeded { get; }

    /// <summary>Why the pattern did not match; null on success.</summary>
    public string? FailureReason { get; }

    /// <summary>The node the pattern is rooted at (its outputs are what the rewrite replaces).</summary>
    public Node Root => _root ?? throw new InvalidOperationException($"A failed match has no root ({FailureReason}).");

    private readonly Node? _root;

    /// <summary>Every node the match covers, root first. Their outputs other than the root's are used only inside the match.</summary>
    public IReadOnlyList<Node> Nodes { get; }

    public IReadOnlyDictionary<string, Value> Values => _values;
    public IReadOnlyDictionary<string, Node> NamedNodes => _nodes;

    /// <summary>The value captured as <paramref name="name"/>.</summary>
    public Value Value(string name) => _values.TryGetValue(name, out var v) ? v
        : throw new KeyNotFoundException($"The match captured no value '{name}' (captured: {string.Join(", ", _values.Keys)}).");

    /// <summary>The node captured as <paramref name="name"/> (an op pattern with <c>.As(name)</c>).</summary>
    public Node Node(string name) => _nodes.TryGetValue(name, out var n) ? n
        : throw new KeyNotFoundException($"The match captured no node '{name}' (captured: {string.Join(", ", _nodes.Keys)}).");

    /// <summary>The constant tensor behind the value captured as <paramref name="name"/>.</summary>
    public Tensor Constant(string name) => ConstantNode.ConstantOf(Value(name))
        ?? throw new InvalidOperationException($"The value captured as '{name}' is not a constant.");

    public static MatchResult Fail(string reason) => new(false, reason, null, [], NoValues, NoNodes);

    /// <param name="root">The root node.</param>
    /// <param name="covered">The nodes the rewrite replaces, root included.</param>
    /// <param name="values">Captured values by name.</param>
    /// <param name="nodes">Captured nodes by name.</param>
    public static MatchResult Success(Node root, IEnumerable<Node> covered,
        IReadOnlyDictionary<string, Value>? values = null, IReadOnlyDictionary<string, Node>? nodes = null)
    {
        var list = new List<Node> { root };
        foreach (var n in covered)
            if (!list.Contains(n)) list.Add(n);
        return new MatchResult(true, null, root, list, values ?? NoValues, nodes ?? NoNodes);
    }

    public override string ToString() => Succeeded ? $"match at {Root} ({Nodes.Count} nodes)" : $"no match: {FailureReason}";
}
