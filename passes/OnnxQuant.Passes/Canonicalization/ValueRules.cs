using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Canonicalization;

/// <summary>
/// Facts about values that several canonicalization passes need: which constants are really fixed, which values a
/// graph other than their own lists as an output, and when one value may take another's place.
/// </summary>
internal static class ValueRules
{
    /// <summary>
    /// The tensor of a constant that callers cannot override: an initializer that is not also a graph input, or the
    /// output of a Constant node. Null for everything else.
    /// </summary>
    public static Tensor? FixedConstant(Value? value)
    {
        if (value is null) return null;
        if (value.Const is { } t) return value.IsGraphInput ? null : t;
        return value.Producer is { } p ? ConstantNode.TryGetTensor(p) : null;
    }

    /// <summary>
    /// Values that a subgraph lists as its output although an enclosing graph defines them (an If branch that
    /// returns an outer value). Such a value has no use and is no output of its own graph, yet it is live; and
    /// <see cref="Value.ReplaceAllUsesWith"/> does not update the subgraph's output list, so it must not be replaced.
    /// </summary>
    public static HashSet<Value> ListedByInnerGraphs(Model model)
    {
        var set = new HashSet<Value>(ReferenceEqualityComparer.Instance);
        foreach (var g in model.AllGraphs())
            foreach (var v in g.Outputs)
                if (!ReferenceEquals(v.Graph, g)) set.Add(v);
        return set;
    }

    /// <summary>True when nothing reads the value: no node (of any graph) and no graph output list.</summary>
    public static bool IsUnused(Value value, HashSet<Value> listedByInnerGraphs) =>
        value.Uses.Count == 0 && !value.IsAnyGraphOutput && !listedByInnerGraphs.Contains(value);

    /// <summary>
    /// Why <paramref name="replacement"/> cannot take the place of <paramref name="old"/> everywhere, or null when it
    /// can. Uses can always move; the trouble is a graph output: the replacement takes the output's name, which is
    /// wrong when the replacement already has an interface name (a graph input, or another output) or lives in
    /// another graph.
    /// </summary>
    public static string? WhyNotReplace(Value old, Value replacement, HashSet<Value> listedByInnerGraphs)
    {
        if (listedByInnerGraphs.Contains(old)) return "an inner graph lists it as an output";
        if (!old.IsAnyGraphOutput) return null;
        if (!ReferenceEquals(old.Graph, replacement.Graph)) return "it is a graph output and its replacement lives in another graph";
        if (replacement.IsGraphInput) return "it is a graph output and its replacement is a graph input";
        if (replacement.IsAnyGraphOutput || listedByInnerGraphs.Contains(replacement))
            return "it is a graph output and its replacement is already an output";
        return null;
    }

    /// <summary>
    /// Replaces <paramref name="old"/> by <paramref name="replacement"/> everywhere (callers check
    /// <see cref="WhyNotReplace"/> first). A replacement without a recorded type inherits the old one, so a graph
    /// output keeps its declared type.
    /// </summary>
    public static void Replace(Value old, Value replacement)
    {
        if (replacement.Type is null && replacement.Const is null && old.Type is not null) replacement.Type = old.Type;
        old.ReplaceAllUsesWith(replacement);
    }
}
