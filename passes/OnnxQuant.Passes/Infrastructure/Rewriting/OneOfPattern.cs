using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Rewriting;

/// <summary>
/// A value that matches one of several patterns, tried in the order written; the first whose match lets the rest of
/// the tree match wins. For the forms one computation takes in exported graphs (x/√v or x·(1/√v); x² as Pow or Mul).
/// At the top of a <see cref="TreePattern"/> the alternatives are separate trees, which may end in different ops.
/// </summary>
public sealed class OneOfPattern : ValuePattern
{
    internal OneOfPattern(ValuePattern[] alternatives)
    {
        if (alternatives.Length == 0) throw new ArgumentException("OneOf needs at least one alternative.", nameof(alternatives));
        Alternatives = alternatives;
    }

    public IReadOnlyList<ValuePattern> Alternatives { get; }

    internal override IEnumerable<(ValuePattern Pattern, int? Input)> Children => Alternatives.Select(a => (a, (int?)null));

    internal override bool Match(Value? value, MatchState state, MatchPath? path, Func<bool> then)
    {
        foreach (var alternative in Alternatives)
        {
            var saved = state.Save();
            if (alternative.Match(value, state, path, then)) return true;
            state.Restore(saved);
        }
        return false;
    }
}
