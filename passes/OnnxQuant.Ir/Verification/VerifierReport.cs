namespace OnnxQuant.Ir.Verification;

/// <summary>The result of <see cref="Verifier.Verify(Model)"/>: every broken invariant found, in graph order.</summary>
public sealed class VerifierReport
{
    /// <summary>How many issues <see cref="ThrowIfInvalid"/> and <see cref="ToString"/> list before summarising the rest.</summary>
    private const int ListedIssues = 20;

    internal VerifierReport(IReadOnlyList<VerifierIssue> issues) => Issues = issues;

    public IReadOnlyList<VerifierIssue> Issues { get; }

    public bool IsValid => Issues.Count == 0;

    /// <summary>True when some issue is of <paramref name="kind"/>.</summary>
    public bool Has(VerifierIssueKind kind) => Issues.Any(i => i.Kind == kind);

    /// <summary>
    /// Throws when an invariant is broken. A broken invariant is a bug in the code that built or changed the IR (a
    /// pass, the reader), never a problem of the user's model, so this is an <see cref="InvalidOperationException"/>.
    /// </summary>
    /// <param name="context">What just ran, e.g. "after pass 'fold-constants'".</param>
    public void ThrowIfInvalid(string context)
    {
        if (!IsValid) throw new InvalidOperationException($"IR verification failed {context}: {this}");
    }

    public override string ToString()
    {
        if (IsValid) return "no issues";
        var lines = Issues.Take(ListedIssues).Select(i => "\n  - " + i);
        string more = Issues.Count > ListedIssues ? $"\n  ... and {Issues.Count - ListedIssues} more" : "";
        return $"{Issues.Count} issue(s):{string.Concat(lines)}{more}";
    }
}
