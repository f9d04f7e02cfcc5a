namespace OnnxQuant.Passes;

/// <summary>One execution of a pass: which round of its fixed-point group (0 outside groups), whether it changed the model, how long it took.</summary>
public sealed record PassRun(string Pass, int Round, bool Modified, TimeSpan Elapsed, SourceLocation? Location = null)
{
    /// <summary>"fold-constants" or "fold-constants (round 2)".</summary>
    public string Label => Round == 0 ? Pass : $"{Pass} (round {Round})";
}
