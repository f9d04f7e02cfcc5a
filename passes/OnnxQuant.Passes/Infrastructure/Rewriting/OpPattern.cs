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

    /// <summary>Matches with <paramref name="root"/> as this pattern's node.</summary>
    internal MatchResult MatchRoot(Node root)
    {
        var state = new MatchState(root);
        if (root.Outputs.Count <= OutputIndex || root.Outputs[OutputIndex] is not { } output)
            return MatchResult.Fail($"{OpType} has no output {OutputIndex}");
        if (CaptureName is not null) state.Bind(CaptureName, output);
        return MatchNode(root, state)
            ? MatchResult.Success(root, state.Covered, state.Values, state.Nodes)
            : MatchResult.Fail(state.FailureReason);
    }

    internal override bool Match(Value? value, MatchState state)
    {
        if (value?.Producer is not { } node) return state.Fail($"expected {OpType}, found {Describe(value)}");
        if (CaptureName is not null)
        {
            // A name seen before: the value must be the same, and its subtree was matched already.
            if (state.Values.TryGetValue(CaptureName, out var bound))
                return ReferenceEquals(bound, value) || state.Fail($"'{CaptureName}' appears twice in the pattern but these are different values");
            state.Bind(CaptureName, value);
        }
        if (value.OutputIndex != OutputIndex)
            return state.Fail($"expected output {OutputIndex} of {OpType}, found output {value.OutputIndex}");
        return MatchNode(node, state);
    }

    private bool MatchNode(Node node, MatchState state)
    {
        if (node.OpType != OpType || !RewritePattern.SameDomain(node.Domain, Domain))
            return state.Fail($"expected {OpType}, found {node.OpType}");
        if (node.Graph != state.Graph)
            return state.Fail($"the {OpType} is in another graph (patterns do not cross subgraph boundaries)");
        int used = node.Inputs.Count;
        while (used > 0 && node.Inputs[used - 1] is null) used--;
        if (used > _inputs.Length)
            return state.Fail($"{OpType} has {used} inputs; the pattern expects {_inputs.Length}");
        foreach (var (predicate, reason) in _conditions)
            if (!predicate(node)) return state.Fail($"{OpType}: {reason}");
        if (!state.Covered.Contains(node)) state.Covered.Add(node);
        if (CaptureName is not null) state.Nodes[CaptureName] = node;
        if (!IsCommutative) return MatchInputs(node, state, swap: false);
        var saved = state.Save();
        if (MatchInputs(node, state, swap: false)) return true;
        state.Restore(saved);
        return MatchInputs(node, state, swap: true);
    }

    private bool MatchInputs(Node node, MatchState state, bool swap)
    {
        for (int i = 0; i < _inputs.Length; i++)
        {
            int index = swap ? 1 - i : i;
            state.Path.Add($"{OpType} input {index}");
            bool ok = _inputs[i].Match(node.Input(index), state);
            state.Path.RemoveAt(state.Path.Count - 1);
            if (!ok) return false;
        }
        return true;
    }
}
