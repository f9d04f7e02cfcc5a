namespace OnnxQuant.Runtime.Audit;

/// <summary>What <see cref="FusionAudit"/> found in ONNX Runtime's optimized graph.</summary>
public sealed record FusionAuditReport(IReadOnlyDictionary<string, int> IntegerKernels, IReadOnlyList<UnfusedDequantize> Unfused)
{
    /// <summary>Unfused DequantizeLinear nodes that feed a MatMul/Gemm/Conv: what a W8A8 preset must leave none of.</summary>
    public IReadOnlyList<UnfusedDequantize> UnfusedOnComputePath => Unfused.Where(u => u.OnComputePath).ToList();

    /// <summary>How many nodes of <paramref name="opType"/> ORT runs (0 when none).</summary>
    public int Kernels(string opType) => IntegerKernels.GetValueOrDefault(opType);

    /// <summary>Lines for a console: the kernel histogram, then each unfused DequantizeLinear.</summary>
    public IEnumerable<string> Lines()
    {
        yield return "integer kernels: " + (IntegerKernels.Count == 0 ? "none" : string.Join(", ", IntegerKernels.Select(k => $"{k.Key} x{k.Value}")));
        yield return $"unfused DequantizeLinear: {Unfused.Count} ({UnfusedOnComputePath.Count} on MatMul/Gemm/Conv)";
        foreach (var u in Unfused) yield return "  " + u;
    }

    public override string ToString() => string.Join(Environment.NewLine, Lines());
}
