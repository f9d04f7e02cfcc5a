using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Rewriting;

/// <summary>Any (present) value, optionally with a condition: the free variables of a pattern (<c>x</c> in <c>x·sigmoid(x)</c>).</summary>
public sealed class AnyValuePattern : ValuePattern
{
    private readonly List<(Func<Value, bool> Predicate, string Reason)> _conditions = [];

    internal AnyValuePattern(string? name) => CaptureName = name;

    /// <summary>Requires <paramref name="predicate"/>; otherwise the match fails with <paramref name="reasonIfNot"/>.</summary>
    public AnyValuePattern Where(Func<Value, bool> predicate, string reasonIfNot)
    {
        _conditions.Add((predicate, reasonIfNot));
        return this;
    }

    internal override bool Match(Value? value, MatchState state, MatchPath? path, Func<bool> then)
    {
        if (value is null) return state.Fail("expected a value, found an omitted input", path);
        foreach (var (predicate, reason) in _conditions)
            if (!predicate(value)) return state.Fail(reason, path);
        return BindThen(value, state, path, then);
    }
}
