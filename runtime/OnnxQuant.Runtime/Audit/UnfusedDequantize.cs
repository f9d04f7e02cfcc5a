namespace OnnxQuant.Runtime.Audit;

/// <summary>
/// A DequantizeLinear that ONNX Runtime left in the graph it runs: its input tensor, the op types that read its output,
/// and whether one of them is a MatMul/Gemm/Conv (then that op runs in float on dequantized values: the main compute
/// path is not accelerated).
/// </summary>
public sealed record UnfusedDequantize(string? NodeName, string? Input, IReadOnlyList<string> Consumers, bool OnComputePath)
{
    public override string ToString() =>
        $"DequantizeLinear '{NodeName}' of '{Input}' -> {(Consumers.Count == 0 ? "(graph output)" : string.Join(", ", Consumers))}" +
        (OnComputePath ? " [compute path]" : "");
}
