namespace OnnxQuant.Runtime.Evaluation;

/// <summary>
/// Next-token agreement of a language model's logits output <see cref="Output"/> ([b, seq, vocab] or [seq, vocab])
/// with its float original, over <see cref="Positions"/> positions (<see cref="NextTokenStatistics"/>). Rates are
/// percentages; KL is in nats.
/// </summary>
public sealed record NextTokenAgreement(string Output, int Vocab, long Positions, long Agreements, double AgreementRate, double MeanKl, double MaxKl)
{
    public static NextTokenAgreement From(string output, int vocab, NextTokenStatistics s) =>
        new(output, vocab, s.Positions, s.Agreements, s.AgreementRate, s.MeanKl, s.MaxKl);
}
