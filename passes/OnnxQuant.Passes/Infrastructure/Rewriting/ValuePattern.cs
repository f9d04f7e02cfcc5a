using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Rewriting;

/// <summary>
/// A pattern for one value inside a <see cref="TreePattern"/>: an op's output (<see cref="OpPattern"/>), any value,
/// a constant, an omitted input, or one of several alternatives. Build them with <see cref="Pattern"/>. A capture
/// name binds the value; using the same name twice requires the same value in both places.
/// </summary>
public abstract class ValuePattern
{
    private protected ValuePattern() { }

    public string? CaptureName { get; private protected set; }

    /// <summary>
    /// Matches <paramref name="value"/> (null for an omitted input) and then the rest of the pattern,
    /// <paramref name="then"/>; true only when both match. Matching by continuation lets an alternative or a commutative
    /// order that matches here but makes a later part fail be undone and the next one tried.
    /// </summary>
    internal abstract bool Match(Value? value, MatchState state, MatchPath? path, Func<bool> then);

    /// <summary>The patterns directly inside this one (an op's inputs, the alternatives), for finding anchors.</summary>
    internal virtual IEnumerable<(ValuePattern Pattern, int? Input)> Children => [];

    /// <summary>Binds <see cref="CaptureName"/> (if any) and continues; undoes the binding when the rest fails.</summary>
    private protected bool BindThen(Value value, MatchState state, MatchPath? path, Func<bool> then)
    {
        if (CaptureName is null) return then();
        var saved = state.Save();
        if (state.Bind(CaptureName, value, path) && then()) return true;
        state.Restore(saved);
        return false;
    }

    private protected static string Describe(Value? value) => value switch
    {
        null => "an omitted input",
        { Producer: { } p } => $"the output of {p.OpType}",
        { IsConstant: true } => "a constant",
        { IsGraphInput: true } => "a graph input",
        _ => "a value with no producer",
    };
}
