namespace OnnxQuant.Runtime.Evaluation;

/// <summary>One CI gate (<c>min-top1</c> or <c>max-drop</c>): its threshold, the measured value, and whether it held.</summary>
public sealed record GateResult(string Gate, double Threshold, double Value, bool Passed);
