namespace OnnxQuant.Fuzzing;

/// <summary>What one case did. <see cref="Accepted"/> and <see cref="CleanError"/> pass; every other kind is a failure.</summary>
public enum FuzzOutcome
{
    /// <summary>Exit 0: the mutation was harmless (or the command still made sense of the model).</summary>
    Accepted,

    /// <summary>Exit 1–3 with an <c>error:</c> message and no stack trace, nothing written, the input untouched.</summary>
    CleanError,

    /// <summary>Exit 70 ("internal error") or another unexpected code.</summary>
    InternalError,

    /// <summary>A stack trace or an unhandled-exception report reached the user.</summary>
    StackTrace,

    /// <summary>Failed without saying why (no <c>error:</c> line).</summary>
    NoMessage,

    /// <summary>Failed but left the output (or a temporary file) behind.</summary>
    PartialOutput,

    /// <summary>The input model or its data changed.</summary>
    InputChanged,

    /// <summary>Ran past the time limit.</summary>
    Hang,

    /// <summary>The process died (a native crash, a stack overflow, an abort).</summary>
    Crash,
}

public static class FuzzOutcomes
{
    public static bool Passes(this FuzzOutcome outcome) => outcome is FuzzOutcome.Accepted or FuzzOutcome.CleanError;
}
