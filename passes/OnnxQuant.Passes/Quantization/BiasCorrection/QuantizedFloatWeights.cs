using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Quantization.BiasCorrection;

/// <summary>
/// The float weight behind each weight DequantizeLinear that <c>insert-qdq</c> made, kept (an analysis in the
/// <see cref="PassContext"/>) only when a <c>bias-correction</c> step follows in the pipeline: that pass needs
/// W − Ŵ, and after quantization the model holds Ŵ alone. Tensors are immutable, so this holds references, not copies.
/// </summary>
public sealed class QuantizedFloatWeights
{
    private readonly Dictionary<Value, Tensor> _byDequantized = [];

    /// <summary>Records that <paramref name="dequantized"/> (a DequantizeLinear output) stands for <paramref name="floatWeight"/>.</summary>
    public void Add(Value dequantized, Tensor floatWeight) => _byDequantized[dequantized] = floatWeight;

    public bool TryGet(Value dequantized, out Tensor floatWeight) => _byDequantized.TryGetValue(dequantized, out floatWeight!);

    /// <summary>The context's record, made when a bias-correction step follows the current one; null when none does.</summary>
    public static QuantizedFloatWeights? ForFollowingBiasCorrection(PassContext context)
    {
        if (context.GetAnalysis<QuantizedFloatWeights>() is { } existing) return existing;
        if (context.CurrentStep is not { } step || context.GetAnalysis<StatisticsSchedule>() is not { } schedule
            || !schedule.After(step).Any(p => p.Pass is BiasCorrectionPass)) return null;
        var record = new QuantizedFloatWeights();
        context.SetAnalysis(record);
        return record;
    }
}
