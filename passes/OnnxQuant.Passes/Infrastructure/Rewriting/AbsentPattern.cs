using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Rewriting;

/// <summary>An omitted optional input, or — with an inner pattern — an input that is either omitted or matches it.</summary>
public sealed class AbsentPattern : ValuePattern
{
    private readonly ValuePattern? _otherwise;

    internal AbsentPattern(ValuePattern? otherwise) => _otherwise = otherwise;

    internal override IEnumerable<(ValuePattern Pattern, int? Input)> Children => _otherwise is null ? [] : [(_otherwise, null)];

    internal override bool Match(Value? value, MatchState state, MatchPath? path, Func<bool> then)
    {
        if (value is null) return then();
        return _otherwise is null
            ? state.Fail($"expected an omitted input, found {Describe(value)}", path)
            : _otherwise.Match(value, state, path, then);
    }
}
