using OnnxQuant.Ir;

namespace OnnxQuant.Runtime.Evaluation;

/// <summary>
/// Scores one sample's first output of both models for a task and counts: correct per model (when labelled) and
/// agreement between them. Only counts are kept.
/// </summary>
internal abstract class TaskScorer : IDisposable
{
    private int _samples, _floatCorrect, _quantCorrect, _agreements;

    protected abstract string Metric { get; }
    protected abstract bool Labeled { get; }

    public static TaskScorer? Create(EvalOptions options, int samples) => options.Task switch
    {
        EvalTask.Classify => ClassifyScorer.Create(options.Labels, samples),
        EvalTask.Ctc => CtcScorer.Create(options.Keys!, options.Labels, samples),
        _ => null,
    };

    /// <summary>Scores sample <paramref name="sample"/> (its index in the data, for its label).</summary>
    public void Add(int sample, Tensor floatOutput, Tensor quantOutput)
    {
        var (floatCorrect, quantCorrect, agree) = Score(sample, floatOutput, quantOutput);
        _samples++;
        if (floatCorrect) _floatCorrect++;
        if (quantCorrect) _quantCorrect++;
        if (agree) _agreements++;
    }

    protected abstract (bool FloatCorrect, bool QuantCorrect, bool Agree) Score(int sample, Tensor floatOutput, Tensor quantOutput);

    public TaskAccuracy Result()
    {
        double Rate(int n) => _samples == 0 ? 0 : 100.0 * n / _samples;
        return Labeled
            ? new TaskAccuracy(Metric, _samples, true, _floatCorrect, Rate(_floatCorrect), _quantCorrect, Rate(_quantCorrect),
                Rate(_floatCorrect) - Rate(_quantCorrect), _agreements, Rate(_agreements))
            : new TaskAccuracy(Metric, _samples, false, null, null, null, null, null, _agreements, Rate(_agreements));
    }

    public virtual void Dispose() { }
}
