using OnnxQuant.Ir;
using OnnxQuant.Passes.Rewriting;

namespace OnnxQuant.Passes.Fusion;

/// <summary>Conditions the fusion patterns share that a pattern tree cannot state. Each returns null when it holds, else why not.</summary>
internal static class FusionChecks
{
    /// <summary>
    /// Every constant a matched node reads has rank at most x's (or <paramref name="atLeast"/>, what the pattern itself
    /// guarantees, when x's rank is unknown). This keeps a rewrite exact: a <c>[1,1]</c> constant added to a rank-1
    /// tensor broadcasts the result up to rank 2, which the fused op would not.
    /// </summary>
    public static string? ConstantRanksFit(MatchResult match, Value x, int atLeast = 0)
    {
        int limit = Math.Max(x.Shape?.Rank ?? 0, atLeast);
        foreach (var node in match.Nodes)
            foreach (var input in node.Inputs)
                if (input is not null && ConstantNode.ConstantOf(input) is { } t && t.Rank > limit && !IsReduceAxes(node, input))
                    return $"a {node.OpType} constant has rank {t.Rank}, above {limit} (the input's): the fused op would not broadcast alike";
        return null;
    }

    private static bool IsReduceAxes(Node node, Value input) => node.OpType.StartsWith("Reduce", StringComparison.Ordinal) && ReferenceEquals(node.Input(1), input);

    /// <summary>A one-element float constant (epsilon, the scalars of an exact formula).</summary>
    public static ConstantPattern AnyFloatScalar(string name) =>
        Pattern.Constant(name).Where(t => t.ElementType == DataType.Float && t.ElementCount == 1, "not a one-element float constant");

    /// <summary><see cref="Pattern.Scalar"/> that must also be float: the constants the fused op computes in float.</summary>
    public static ConstantPattern FloatScalar(double value) =>
        Pattern.Scalar(value).Where(t => t.ElementType == DataType.Float, "the constant is not float");

    /// <summary>
    /// Null when <paramref name="node"/> reduces over exactly the last axis of <paramref name="input"/> and keeps it
    /// (keepdims=1): axes from the attribute before opset 18, from the second input from 18 on.
    /// </summary>
    public static string? ReducesLastAxis(Node node, long opset, Value input)
    {
        if (node.GetInt("keepdims", 1) != 1) return "the ReduceMean has keepdims=0";
        IReadOnlyList<long>? axes;
        if (opset < 18)
        {
            axes = node.GetInts("axes");
        }
        else
        {
            if (node.Input(1) is null) axes = null;
            else if (ConstantNode.ConstantOf(node.Input(1)!) is { ElementType: DataType.Int64 } t) axes = t.AsSpan<long>().ToArray();
            else return "the ReduceMean has non-constant axes";
        }
        int? rank = input.Shape?.Rank;
        if (axes is null || axes.Count == 0)
            return rank == 1 && node.GetInt("noop_with_empty_axes", 0) == 0 ? null : "the ReduceMean reduces over all axes, not the last one";
        if (axes.Count != 1) return $"the ReduceMean reduces over {axes.Count} axes, not just the last one";
        long axis = axes[0];
        if (axis == -1 || (rank is int r && axis == r - 1)) return null;
        return $"the ReduceMean reduces over axis {axis}, not the last one" + (rank is null && axis >= 0 ? " (rank unknown)" : "");
    }

    /// <summary>Null when <paramref name="tensor"/> holds one number of at least 0 (an epsilon), else why not.</summary>
    public static string? ReadEpsilon(Tensor tensor, out double value)
    {
        if (!ScalarReader.TryRead(tensor, out value)) return "epsilon is not a one-element number";
        return value < 0 ? "epsilon is negative" : null;
    }
}
