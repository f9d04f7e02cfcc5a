namespace OnnxQuant.Passes.Quantization;

/// <summary>What a quantization pass does with a node whose constant weight or bias holds NaN or ±∞ (recipes write
/// <c>non-finite: error</c> or <c>non-finite: float</c>): see <see cref="NonFiniteWeights"/>.</summary>
public enum NonFiniteWeightsPolicy
{
    /// <summary>Refuse the model: the error names the tensor and its node (exit 2, no output).</summary>
    Error,

    /// <summary>Leave such nodes float and say which (counted as <c>non-finite-float</c>).</summary>
    Float,
}
