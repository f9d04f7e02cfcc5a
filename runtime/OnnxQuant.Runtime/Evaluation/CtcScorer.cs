using OnnxQuant.Ir;

namespace OnnxQuant.Runtime.Evaluation;

/// <summary>
/// Exact match of the greedy CTC decoding of a [1, T, C] output against one label per line, both without leading and
/// trailing spaces.
/// </summary>
internal sealed class CtcScorer : TaskScorer
{
    private readonly CtcDecoder _decoder;
    private readonly string[]? _labels;

    private CtcScorer(CtcDecoder decoder, string[]? labels)
    {
        _decoder = decoder;
        _labels = labels;
    }

    protected override string Metric => "exactMatch";
    protected override bool Labeled => _labels is not null;

    public static CtcScorer Create(string keysPath, string? labelsPath, int samples)
    {
        var decoder = CtcDecoder.FromKeysFile(keysPath);
        if (labelsPath is null) return new CtcScorer(decoder, null);
        if (!File.Exists(labelsPath)) throw new OnnxQuantException($"The labels file {labelsPath} does not exist (ctc labels: one text per line).");
        // Text labels are a few bytes per sample; reading them whole is not what makes memory grow.
        var labels = File.ReadAllLines(labelsPath, System.Text.Encoding.UTF8);
        if (labels.Length < samples)
            throw new OnnxQuantException($"{labelsPath} holds {labels.Length} lines, fewer than the {samples} samples evaluated.");
        return new CtcScorer(decoder, labels);
    }

    public string Decode(Tensor output)
    {
        if (output.Dims.Count < 2 || output.ElementCount != output.Dims[^1] * output.Dims[^2])
            throw new OnnxQuantException($"--task ctc expects one [T, C] sequence of class scores per sample ([1, T, C]); the first output has shape [{string.Join(",", output.Dims)}].");
        return _decoder.Decode(FloatValues.Of(output), checked((int)output.Dims[^1]));
    }

    protected override (bool, bool, bool) Score(int sample, Tensor floatOutput, Tensor quantOutput)
    {
        // The padding right of a word (images are padded to a fixed width) often decodes as a space, and a gap at the
        // left edge too: a word's text is compared without leading and trailing spaces, on both sides.
        string f = Decode(floatOutput).Trim(' '), q = Decode(quantOutput).Trim(' ');
        string? label = _labels?[sample].Trim(' ');
        return (f == label, q == label, f == q);
    }
}
