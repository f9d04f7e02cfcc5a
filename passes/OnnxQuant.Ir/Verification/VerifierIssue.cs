namespace OnnxQuant.Ir.Verification;

/// <summary>
/// One broken invariant: what (<see cref="Kind"/>, <see cref="Message"/> naming the node or value) and where
/// (<see cref="Where"/>, the path of the graph, e.g. <c>graph 'main' / If 'cond' .then_branch</c>).
/// <see cref="Node"/> and <see cref="Value"/> point at the objects involved, when there are any.
/// </summary>
public sealed record VerifierIssue(VerifierIssueKind Kind, string Message, string Where, Node? Node = null, Value? Value = null)
{
    public override string ToString() => $"{Kind} in {Where}: {Message}";
}
