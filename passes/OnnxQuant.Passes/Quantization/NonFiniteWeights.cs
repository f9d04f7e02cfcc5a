using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Quantization;

/// <summary>
/// The check every quantizer makes before it quantizes a node: no constant float input (weight, bias, embedding
/// table) may hold NaN or ±∞. Such a float model already outputs NaN/∞ there, but quantized it would output finite
/// junk (a NaN scale is floored to a tiny one, a NaN bias rounds to int32 0), and nobody would notice. By default
/// (<see cref="NonFiniteWeightsPolicy.Error"/>) the model is refused with the tensor and node named; with
/// <see cref="NonFiniteWeightsPolicy.Float"/> the node stays float, reported like any node left float.
/// </summary>
public static class NonFiniteWeights
{
    /// <summary>The option's description, the same in every quantizer's options.</summary>
    public const string OptionDescription =
        "a MatMul/Gemm/Conv whose constant weight or bias holds NaN or Inf: error (refuse the model, naming the tensor) or float (leave the node float and say so)";

    /// <summary>The first constant float input of <paramref name="node"/> holding NaN or ±∞, with how many of its values do; null when none does.</summary>
    public static (Value Tensor, long NonFinite, long Total)? Find(Node node)
    {
        foreach (var input in node.Inputs)
        {
            if (input?.Const is not { } t || t.ElementType is not (DataType.Float or DataType.Float16 or DataType.BFloat16)) continue;
            long bad = Count(t);
            if (bad > 0) return (input, bad, t.ElementCount);
        }
        return null;
    }

    /// <summary>
    /// True when <paramref name="node"/> may be quantized. Otherwise throws (<see cref="NonFiniteWeightsPolicy.Error"/>)
    /// or reports the node as staying float and returns false (<see cref="NonFiniteWeightsPolicy.Float"/>).
    /// </summary>
    public static bool Allows(Node node, NonFiniteWeightsPolicy policy, PassContext context, string pass)
    {
        if (Find(node) is not var (tensor, bad, total)) return true;
        string what = $"'{tensor.Name}' of {node} holds {bad} NaN/Inf value(s) of {total}";
        if (policy == NonFiniteWeightsPolicy.Error)
            throw new OnnxQuantException(
                $"{pass}: {what}; the float model already computes NaN/Inf there and a quantized copy would hide it. " +
                $"Fix the model, or set 'non-finite: float' in the {pass} step of the recipe to leave such nodes float.");
        StaysFloat.Report(context, pass, "non-finite", node, $"{what} (non-finite: float)", "non-finite-float");
        return false;
    }

    private static long Count(Tensor t)
    {
        long bad = 0;
        if (t.ElementType == DataType.Float)
        {
            foreach (float v in t.AsSpan<float>()) if (!float.IsFinite(v)) bad++;
            return bad;
        }
        foreach (float v in t.ToFloatArray()) if (!float.IsFinite(v)) bad++;
        return bad;
    }
}
