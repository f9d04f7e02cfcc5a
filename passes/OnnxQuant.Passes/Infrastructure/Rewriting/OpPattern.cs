using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Rewriting;

/// <summary>
/// An output of a node with a given op type whose inputs match the input patterns. Two-input ops that commute (Add,
/// Mul, Max, Min, …) match their inputs in either order unless <see cref="Ordered"/> is called. The matched node must
/// be in the root's graph (patterns do not reach across subgraph boundaries) and have no inputs beyond the pattern's.
/// </summary>
public sealed class OpPattern : ValuePattern
{
    private static readonly HashSet<string> CommutativeOps =
        ["Add", "Mul", "Max", "Min", "Sum", "Mean", "And", "Or", "Xor", "Equal", "BitwiseAnd", "BitwiseOr", "BitwiseXor"];

    private readonly ValuePattern[] _inputs;
    private readonly List<(Func<Node, bool> Predicate, string Reason)> _conditions = [];

    internal OpPattern(string opType, string domain, ValuePattern[] inputs)
    {
        OpType = opType;
        Domain = domain;
        _inputs = inputs;
        IsCommutative = inputs.Length == 2 && RewritePattern.SameDomain(domain, "") && CommutativeOps.Contains(opType);
    }

    public string OpType { get; }
    public string Domain { get; }
    public IReadOnlyList<ValuePattern> Inputs => _inputs;
    public bool IsCommutative { get; private set; }

    /// <summary>Which output of the node the value must be (0 by default).</summary>
    public int OutputIndex { get; private set; }

    /// <summary>Captures the output value and the node under <paramref name="name"/>.</summary>
    public OpPattern As(string name)
    {
        CaptureName = name;
        return this;
    }

    /// <summary>Requires <paramref name="predicate"/> of the node (attributes, types); otherwise fails with <paramref name="reasonIfNot"/>.</summary>
    public OpPattern Where(Func<Node, bool> predicate, string reasonIfNot)
    {
        _conditions.Add((predicate, reasonIfNot));
        return this;
    }

    /// <summary>Matches the inputs in the written order only.</summary>
    public OpPattern Ordered()
    {
        IsCommutative = false;
        return this;
    }

    /// <summary>Matches the two inputs in either order.</summary>
    public OpPattern Commutative()
    {
        if (_inputs.Length != 2) throw new InvalidOperationException($"Only two-input patterns can be commutative ({OpType} has {_inputs.Length}).");
        IsCommutative = true;
        return this;
    }

    /// <summary>Matches output <paramref name="index"/> of the node instead of output 0.</summary>
    public OpPattern Output(int index)
    {
        OutputIndex = index;
        return this;
    }

    /// <summary>
    /// Marks this op as the pattern's anchor: the driver offers nodes of this op type, not of the root's, and the
    /// match starts from the nodes that read the anchor's output up to the root. Anchor a pattern at its first node
    /// when its last node is common (Add, Mul) or comes in several forms, and its first is distinctive (ReduceMean, Erf).
    /// </summary>
    public OpPattern Anchor()
    {
        IsAnchor = true;
        return this;
    }

    public bool IsAnchor { get; private set; }

    internal override IEnumerable<(ValuePattern Pattern, int? Input)> Children => _inputs.Select((p, i) => (p, (int?)i));

    /// <summary>Matches with <paramref name="root"/> as this pattern's node, then <paramref name="then"/>.</summary>
    internal bool MatchRoot(Node root, MatchState state, Func<bool> then)
    {
        if (root.Outputs.Count <= OutputIndex || root.Outputs[OutputIndex] is not { } output)
            return state.Fail($"{OpType} has no output {OutputIndex}");
        return BindThen(output, state, null, () => MatchNode(root, state, null, then));
    }

    internal override bool Match(Value? value, MatchState state, MatchPath? path, Func<bool> then)
    {
        if (value?.Producer is not { } node) return state.Fail($"expected {OpType}, found {Describe(value)}", path);
        // A name seen before: the value must be the same, and its subtree was matched already.
        if (CaptureName is not null && state.TryGetValue(CaptureName, out var bound))
            return ReferenceEquals(bound, value)
                ? then()
                : state.Fail($"'{CaptureName}' appears twice in the pattern but these are different values", path);
        if (value.OutputIndex != OutputIndex)
            return state.Fail($"expected output {OutputIndex} of {OpType}, found output {value.OutputIndex}", path);
        return BindThen(value, state, path, () => MatchNode(node, state, path, then));
    }

    private bool MatchNode(Node node, MatchState state, MatchPath? path, Func<bool> then)
    {
        if (node.OpType != OpType || !RewritePattern.SameDomain(node.Domain, Domain))
            return state.Fail($"expected {OpType}, found {node.OpType}", path);
        if (node.Graph != state.Graph)
            return state.Fail($"the {OpType} is in another graph (patterns do not cross subgraph boundaries)", path);
        if (state.Anchor is { } anchor && ReferenceEquals(anchor.Pattern, this) && !ReferenceEquals(anchor.Node, node))
            return state.Fail($"the {OpType} is not the anchor node", path);
        int used = node.Inputs.Count;
        while (used > 0 && node.Inputs[used - 1] is null) used--;
        if (used > _inputs.Length)
            return state.Fail($"{OpType} has {used} inputs; the pattern expects {_inputs.Length}", path);
        foreach (var (predicate, reason) in _conditions)
            if (!predicate(node)) return state.Fail($"{OpType}: {reason}", path);
        var saved = state.Save();
        if (!state.Covered.Contains(node)) state.Covered.Add(node);
        if (CaptureName is not null) state.BindNode(CaptureName, node);
        if (MatchInputs(0, node, state, path, swap: false, then)) return true;
        if (IsCommutative && MatchInputs(0, node, state, path, swap: true, then)) return true;
        state.Restore(saved);
        return false;
    }

    private bool MatchInputs(int i, Node node, MatchState state, MatchPath? path, bool swap, Func<bool> then)
    {
        if (i == _inputs.Length) return then();
        int index = swap ? 1 - i : i;
        return _inputs[i].Match(node.Input(index), state, new MatchPath(path, $"{OpType} input {index}"),
            () => MatchInputs(i + 1, node, state, path, swap, then));
    }
}
