namespace OnnxQuant.Runtime.Evaluation;

/// <summary>
/// Task accuracy of both models over <see cref="Samples"/> samples. <see cref="Metric"/> is <c>top1</c> (classify)
/// or <c>exactMatch</c> (ctc). Rates are percentages. Without labels only the agreement is known (the other fields
/// are null). <see cref="DropPoints"/> = float rate − quantized rate.
/// </summary>
public sealed record TaskAccuracy(
    string Metric,
    int Samples,
    bool Labeled,
    int? FloatCorrect,
    double? FloatRate,
    int? QuantCorrect,
    double? QuantRate,
    double? DropPoints,
    int Agreements,
    double AgreementRate);
