using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Rewriting;

/// <summary>
/// A pattern for one value inside a <see cref="TreePattern"/>: an op's output (<see cref="OpPattern"/>), any value,
/// a constant, or an omitted input. Build them with <see cref="Pattern"/>. A capture name binds the value; using the
/// same name (or the same pattern object) twice requires the same value in both places.
/// </summary>
public abstract class ValuePattern
{
    private protected ValuePattern() { }

    public string? CaptureName { get; private protected set; }

    /// <summary>Matches <paramref name="value"/> (null for an omitted input), extending or failing the state.</summary>
    internal abstract bool Match(Value? value, MatchState state);

    private protected static string Describe(Value? value) => value switch
    {
        null => "an omitted input",
        { Producer: { } p } => $"the output of {p.OpType}",
        { IsConstant: true } => "a constant",
        { IsGraphInput: true } => "a graph input",
        _ => "a value with no producer",
    };
}
