using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Rewriting;

/// <summary>An omitted optional input, or — with an inner pattern — an input that is either omitted or matches it.</summary>
public sealed class AbsentPattern : ValuePattern
{
    private readonly ValuePattern? _otherwise;

    internal AbsentPattern(ValuePattern? otherwise) => _otherwise = otherwise;

    internal override bool Match(Value? value, MatchState state)
    {
        if (value is null) return true;
        return _otherwise is null ? state.Fail($"expected an omitted input, found {Describe(value)}") : _otherwise.Match(value, state);
    }
}
