using OnnxQuant.Ir;

namespace OnnxQuant.Passes;

/// <summary>
/// A pass threw, or left a model that fails verification. Names the pass and the passes that ran before it (a pass
/// often fails because of what an earlier one did). A user error thrown by the pass (an
/// <see cref="OnnxQuantException"/>) keeps its message; anything else is reported as an internal error.
/// </summary>
public sealed class PassFailedException : OnnxQuantException
{
    private const int ShownPredecessors = 12;

    public PassFailedException(string passName, IReadOnlyList<string> passesBefore, Exception inner,
        SourceLocation? location = null, bool verificationFailed = false)
        : base(Compose(passName, passesBefore, inner, location, verificationFailed), inner)
    {
        PassName = passName;
        PassesBefore = passesBefore;
        Location = location;
        VerificationFailed = verificationFailed;
    }

    public string PassName { get; }

    /// <summary>Every pass run before this one, in order (a pass in a fixed-point group appears once per round).</summary>
    public IReadOnlyList<string> PassesBefore { get; }

    public SourceLocation? Location { get; }

    /// <summary>True when the pass itself returned, but the model it left broke an IR invariant.</summary>
    public bool VerificationFailed { get; }

    /// <summary>True when the pass reported a problem with the user's input rather than crashing.</summary>
    public bool IsUserError => !VerificationFailed && InnerException is OnnxQuantException;

    private static string Compose(string pass, IReadOnlyList<string> before, Exception inner, SourceLocation? location, bool verification)
    {
        string where = location is null ? $"pass '{pass}'" : $"pass '{pass}' ({location})";
        string history = before.Count == 0
            ? "It was the first pass."
            : before.Count <= ShownPredecessors
                ? $"Passes run before it: {string.Join(", ", before)}."
                : $"Passes run before it: … ({before.Count - ShownPredecessors} earlier), {string.Join(", ", before.TakeLast(ShownPredecessors))}.";
        if (verification)
            return $"The model is invalid after {where}: {inner.Message}\n{history} The pass broke an IR invariant; this is a bug in the pass.";
        if (inner is OnnxQuantException)
            return $"{inner.Message}\n(in {where}. {history})";
        return $"Internal error in {where}: {inner.GetType().Name}: {inner.Message}\n{history} " +
               "This is a bug in OnnxQuant; please report it with the model and the recipe.";
    }
}
