namespace OnnxQuant.Passes.Quantization.AutoPrecision;

/// <summary>
/// One step of the search: <see cref="Node"/> (of <see cref="Group"/>, the sensitivity group) set to
/// <see cref="Choice"/>, because the error it adds had an SQNR of <see cref="LocalSqnrDb"/> (its output's noise
/// less its worst input's, against the float model, in the model as it was), and the held-out score went from <see cref="ScoreBefore"/> to
/// <see cref="ScoreAfter"/> for <see cref="CostNs"/> more estimated nanoseconds per run.
/// </summary>
public sealed record AutoPrecisionDecision(string Node, string Group, PrecisionChoice Choice, double LocalSqnrDb,
    double ScoreBefore, double ScoreAfter, double CostNs, int Tried);

/// <summary>
/// What the search did, as written to the output's metadata (key <see cref="AutoPrecisionPass.MetadataKey"/>, JSON).
/// <see cref="ScreenSamples"/>: held-out samples each candidate change was screened on (a change is kept only after a
/// measurement on all <see cref="HeldOutSamples"/>; equal to them when there is no screening); <see cref="SampleRuns"/>:
/// forward passes of one held-out sample through any variant (ranking, screening, confirming), the search's cost.
/// </summary>
public sealed record AutoPrecisionSummary(
    string Target,
    string Metric,
    int HeldOutSamples,
    int HeldOutFirst,
    double FloatScore,
    double StartScore,
    double FinalScore,
    bool TargetHolds,
    double EstimatedLatencyRatio,
    double? MaxLatency,
    int Candidates,
    int Measurements,
    string Stopped,
    string CostTable,
    IReadOnlyList<AutoPrecisionDecision> Decisions,
    int ScreenSamples = 0,
    long SampleRuns = 0);
