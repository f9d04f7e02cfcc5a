using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Quantization;

/// <summary>What the QDQ passes require of the model they start from, checked and worded the same way by each.</summary>
public static class FloatModelPrecondition
{
    /// <summary>
    /// Throws unless <paramref name="model"/> is float (holds no QDQ or integer op) and its default opset is at least
    /// <paramref name="requiredOpset"/>, which <paramref name="needs"/> names ("DynamicQuantizeLinear needs").
    /// Returns the opset.
    /// </summary>
    public static long Check(Model model, string pass, long requiredOpset, string needs) => Check(model, pass, requiredOpset, needs, allowDynamic: false);

    /// <summary>
    /// As <see cref="Check(Model, string, long, string)"/>; with <paramref name="allowDynamic"/> the ops that
    /// insert-dynamic-qdq writes (<see cref="DynamicOps"/>) are accepted, so a later static pass can quantize the rest.
    /// </summary>
    public static long Check(Model model, string pass, long requiredOpset, string needs, bool allowDynamic)
    {
        if (model.AllGraphs().SelectMany(g => g.Nodes).FirstOrDefault(n => InsertQdqPass.IsQuantizedOp(n) && !(allowDynamic && DynamicOps.Contains(n.OpType))) is { } quantized)
            throw new OnnxQuantException(
                $"{pass}: the model is already quantized: it holds {quantized}. Quantize the float model it was made from.");
        long opset = model.GetOpset("") ?? 1;
        if (opset < requiredOpset)
            throw new OnnxQuantException(
                $"{pass}: the model has opset {opset}; {needs} opset >= {requiredOpset}. " +
                $"Run 'upgrade-opset' (target-opset: {requiredOpset} or later) before '{pass}' in the recipe.");
        return opset;
    }

    /// <summary>What insert-dynamic-qdq leaves in a model (before ORT fuses it): runtime-range quantization and integer MatMul.</summary>
    public static readonly IReadOnlySet<string> DynamicOps = new HashSet<string>(StringComparer.Ordinal)
    {
        "DynamicQuantizeLinear", "MatMulInteger", "DynamicQuantizeMatMul", "MatMulIntegerToFloat",
    };
}
