using OnnxQuant.Ir;

namespace OnnxQuant.Runtime.Evaluation;

/// <summary>Top-1 of a [1, C] output against class ids, and whether both models pick the same class.</summary>
internal sealed class ClassifyScorer : TaskScorer
{
    private readonly ClassLabels? _labels;

    private ClassifyScorer(ClassLabels? labels) => _labels = labels;

    protected override string Metric => "top1";
    protected override bool Labeled => _labels is not null;

    public static ClassifyScorer Create(string? labelsPath, int samples)
    {
        if (labelsPath is null) return new ClassifyScorer(null);
        var labels = ClassLabels.Open(labelsPath);
        if (labels.Count < samples)
        {
            labels.Dispose();
            throw new OnnxQuantException($"{labelsPath} holds {labels.Count} labels, fewer than the {samples} samples evaluated.");
        }
        return new ClassifyScorer(labels);
    }

    public static int Top1(Tensor output)
    {
        if (output.Dims.Count == 0 || output.ElementCount != output.Dims[^1])
            throw new OnnxQuantException($"--task classify expects one row of class scores per sample ([1, C]); the first output has shape [{string.Join(",", output.Dims)}].");
        return ArgMax.Of(FloatValues.Of(output));
    }

    protected override (bool, bool, bool) Score(int sample, Tensor floatOutput, Tensor quantOutput)
    {
        int f = Top1(floatOutput), q = Top1(quantOutput);
        long? label = _labels?[sample];
        return (f == label, q == label, f == q);
    }

    public override void Dispose() => _labels?.Dispose();
}
