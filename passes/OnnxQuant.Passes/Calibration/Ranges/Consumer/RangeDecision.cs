namespace OnnxQuant.Passes.Calibration.Ranges.Consumer;

/// <summary>
/// What the chooser decided for one tensor: the candidate kept, how it was judged (<c>consumer</c>: output error of
/// the linear layers reading it; <c>tensor</c>: the tensor's own quantization error over its histogram), every
/// candidate's error in the order tried, and the kept error relative to the signal (SQNR in dB).
/// </summary>
public sealed record RangeDecision(string Tensor, RangeCandidate Chosen, string JudgedBy, IReadOnlyList<(string Name, double Error)> Errors, double SqnrDb);
