using System.Globalization;
using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Rewriting;

/// <summary>
/// A value whose tensor is known: a constant (initializer) or the output of a Constant node. <see cref="Pattern.Scalar"/>
/// further requires a single element equal to a number.
/// </summary>
public sealed class ConstantPattern : ValuePattern
{
    /// <summary>Each check returns null when the tensor passes, else the reason it does not.</summary>
    private readonly List<Func<Tensor, string?>> _checks = [];

    internal ConstantPattern(string? name) => CaptureName = name;

    /// <summary>Requires <paramref name="predicate"/> of the tensor; otherwise the match fails with <paramref name="reasonIfNot"/>.</summary>
    public ConstantPattern Where(Func<Tensor, bool> predicate, string reasonIfNot)
    {
        _checks.Add(t => predicate(t) ? null : reasonIfNot);
        return this;
    }

    internal ConstantPattern Equal(double expected, double tolerance)
    {
        string want = Format(expected);
        _checks.Add(t =>
            !ScalarReader.TryRead(t, out double v) ? $"expected the constant {want}, found a {t} constant"
            : IsClose(v, expected, tolerance) ? null
            : $"expected the constant {want}, found {Format(v)}");
        return this;
    }

    /// <summary>Relative closeness, so that small constants (0.044715) are held to their own scale; an expected 0 must be exactly 0.</summary>
    public static bool IsClose(double actual, double expected, double tolerance) =>
        Math.Abs(actual - expected) <= tolerance * Math.Max(Math.Abs(actual), Math.Abs(expected));

    internal override bool Match(Value? value, MatchState state, MatchPath? path, Func<bool> then)
    {
        if (value is null) return state.Fail("expected a constant, found an omitted input", path);
        if (ConstantNode.ConstantOf(value) is not { } tensor) return state.Fail($"expected a constant, found {Describe(value)}", path);
        foreach (var check in _checks)
            if (check(tensor) is { } reason) return state.Fail(reason, path);
        return BindThen(value, state, path, then);
    }

    private static string Format(double v) => v.ToString("G7", CultureInfo.InvariantCulture);
}
