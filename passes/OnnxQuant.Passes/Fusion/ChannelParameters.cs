using OnnxQuant.Ir;
using OnnxQuant.Passes.Rewriting;

namespace OnnxQuant.Passes.Fusion;

/// <summary>
/// γ and β of a normalization over the last axis, as the fused op wants them: a 1-D float tensor of the channel
/// count. Shared by the LayerNorm and RMSNorm fusions.
/// </summary>
internal static class ChannelParameters
{
    /// <summary>
    /// A per-channel constant as a 1-D tensor of the channel count: float, every dimension but the last 1. A
    /// one-element constant is expanded when x's last dimension is known. Returns the reason when it is not one.
    /// </summary>
    public static string? TryVector(Value value, Value x, out Tensor? vector)
    {
        vector = null;
        if (ConstantNode.ConstantOf(value) is not { } t) return "the scale or shift is not a constant";
        if (t.ElementType != DataType.Float) return $"the scale or shift is {t.ElementType.OnnxName()}, not float";
        if (t.Rank > 0 && t.Dims.Take(t.Rank - 1).Any(d => d != 1)) return "the scale or shift is not per channel of the last axis";
        long? lastDim = LastDimension(x);
        if (t.ElementCount == 1)
        {
            if (lastDim is not long n) return "the scale or shift is one element and the input's last dimension is unknown";
            vector = Filled(t.AsSpan<float>()[0], n);
            return null;
        }
        if (lastDim is long d && d != t.ElementCount) return $"the scale or shift has {t.ElementCount} channels but the input has {d}";
        vector = t.Rank == 1 ? t : t.Reshape([t.ElementCount]);
        return null;
    }

    public static long? LastDimension(Value x) => x.Shape is { Rank: > 0 } s ? s[s.Rank - 1].Value : null;

    /// <summary>The original constant when <paramref name="tensor"/> is its own tensor, else a new constant holding it.</summary>
    public static Value ConstantFor(Rewriter rewriter, Value? original, Tensor tensor, string hint) =>
        original is { Const: { } c } && ReferenceEquals(c, tensor) ? original : rewriter.AddConstant(tensor, hint);

    /// <summary>A float32 tensor of <paramref name="length"/> copies of <paramref name="value"/>.</summary>
    public static Tensor Filled(float value, long length)
    {
        var data = new float[length];
        Array.Fill(data, value);
        return Tensor.FromFloats(data, length);
    }
}
