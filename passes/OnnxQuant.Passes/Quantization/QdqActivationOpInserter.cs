using OnnxQuant.Ir;
using OnnxQuant.Passes.Rewriting;

namespace OnnxQuant.Passes.Quantization;

/// <summary>
/// Q/DQ around ops without weights that ONNX Runtime's CPU provider runs in integers when every data input is a
/// DequantizeLinear and the output a QuantizeLinear (ALGORITHMS.md §6): Add/Mul → QLinearAdd/QLinearMul, Concat →
/// QLinearConcat, AveragePool/GlobalAveragePool → QLinearAveragePool/QLinearGlobalAveragePool, Sigmoid/LeakyRelu/
/// Softmax → QLinearSigmoid/QLinearLeakyRelu/QLinearSoftmax (com.microsoft). Each input and the output keep their own
/// calibrated parameters; the output is quantized after a lone Relu that reads it (ORT then removes the Relu).
/// Identity relied on: op(DQ(Q(x))) computed on integers by ORT's kernel, which requantizes to the output's scale.
/// Does not fire when an input is a constant (a scale or bias: Mul by a constant stays float, ORT has no fusion for
/// a constant operand without its own DQ) or when an input or the output has no calibrated range.
/// </summary>
internal sealed class QdqActivationOpInserter(QdqInserter inserter, PassContext context, long opset, string pass)
{
    /// <summary>The op types this family handles, with the ORT kernel each becomes.</summary>
    public static IReadOnlyDictionary<string, string> Kernels { get; } = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["Add"] = "QLinearAdd",
        ["Mul"] = "QLinearMul",
        ["Concat"] = "QLinearConcat",
        ["AveragePool"] = "QLinearAveragePool",
        ["GlobalAveragePool"] = "QLinearGlobalAveragePool",
        ["Sigmoid"] = "QLinearSigmoid",
        ["LeakyRelu"] = "QLinearLeakyRelu",
        ["Softmax"] = "QLinearSoftmax",
    };

    public static bool Handles(string opType) => Kernels.ContainsKey(opType);

    /// <summary>Quantizes the data inputs and the output of <paramref name="node"/>; false, counted and logged, when it cannot.</summary>
    public bool TryQuantize(Node node)
    {
        var inputs = DataInputs(node);
        string? why = Check(node, inputs, out var floatType);
        if (why is not null)
        {
            StaysFloat.Report(context, pass, "quantize", node, why, StaysFloat.CounterFor(why));
            return false;
        }
        foreach (int i in inputs)
            inserter.Rewriter.ReplaceInput(node, i, inserter.QuantizeActivation(node.Inputs[i]!, floatType)!.Value.Dq);
        inserter.QuantizeOutput(node, floatType);
        return true;
    }

    /// <summary>The values whose ranges <see cref="TryQuantize"/> reads: the data inputs and the quantized output.</summary>
    public static IEnumerable<Value?> RangedValues(Node node)
    {
        // Shape arithmetic (int64 Concat, Mul) is never quantized: nothing to observe.
        if (node.Inputs.Count == 0 || node.Inputs[0] is { ElementType: { } t } && t is not (DataType.Float or DataType.Float16)) yield break;
        foreach (int i in DataInputs(node))
            if (i < node.Inputs.Count) yield return node.Inputs[i];
        if (node.Outputs.Count > 0 && node.Outputs[0] is { } output) yield return QdqInserter.OutputToQuantize(output);
    }

    private static int[] DataInputs(Node node) => node.OpType switch
    {
        "Add" or "Mul" => [0, 1],
        "Concat" => Enumerable.Range(0, node.Inputs.Count).ToArray(),
        _ => [0],
    };

    private string? Check(Node node, int[] inputs, out DataType floatType)
    {
        floatType = DataType.Undefined;
        if (inputs.Any(i => i >= node.Inputs.Count || node.Inputs[i] is null) || node.Outputs.Count == 0) return "it lacks an input";
        if (node.Outputs.Count > 1 && node.Outputs.Skip(1).Any(o => o is { Uses.Count: > 0 })) return "it has more than one output in use";
        // The type first: shape arithmetic (int64 Concat/Mul) is never calibrated, and "no range" would mislead.
        var type = inserter.FloatTypeOf(node.Inputs[inputs[0]]!);
        if (type is not (DataType.Float or DataType.Float16)) return $"its element type is {type?.OnnxName() ?? "unknown"}, not float or float16";
        if (type == DataType.Float16 && opset < InsertQdqPass.RequiredOpsetFloat16) return $"float16 scales need opset >= {InsertQdqPass.RequiredOpsetFloat16}";
        foreach (int i in inputs)
        {
            var x = node.Inputs[i]!;
            if (x.IsConstant) return $"its input {i} ({x}) is a constant";
            if (!inserter.HasChainRange(x)) return $"no calibrated range for {x} (calibrate in the same recipe as insert-qdq, or with 'tensors: all')";
        }
        var output = QdqInserter.OutputToQuantize(node.Output);
        if (!inserter.HasRange(output)) return $"no calibrated range for {output} (calibrate in the same recipe as insert-qdq, or with 'tensors: all')";
        floatType = type.Value;
        return null;
    }
}
