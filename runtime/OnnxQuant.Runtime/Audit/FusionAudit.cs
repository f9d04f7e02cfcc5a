using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Runtime;
using OnnxQuant.Runtime.Kernels;

namespace OnnxQuant.Runtime.Audit;

/// <summary>
/// Checks that ONNX Runtime actually accelerates a QDQ model: loads it with all graph optimizations on, reads back the
/// optimized graph ORT writes (<c>OptimizedModelFilePath</c>), and lists the integer kernels it found (QLinearConv,
/// QLinearMatMul, MatMulIntegerToFloat, QGemm...) and every DequantizeLinear it did not fuse. A QDQ model whose
/// MatMul/Gemm/Conv still read a DequantizeLinear runs them in float, after dequantizing at every run: slower than the
/// float model (ALGORITHMS.md §6). OnnxQuant's own operators (domain <c>com.onnxquant</c>, written by
/// <c>fuse-custom-ops</c>) are integer kernels too and are listed with their domain (<c>com.onnxquant.MatMulW4A8</c>).
/// </summary>
public static class FusionAudit
{
    private static readonly HashSet<string> IntegerKernelOps = new(StringComparer.Ordinal)
    {
        "MatMulIntegerToFloat", "QGemm", "MatMulInteger", "ConvInteger", "DynamicQuantizeMatMul", "MatMulNBits", "QAttention",
    };

    // Float compute ops, in any domain: ORT's layout passes turn Conv into com.microsoft.nchwc.Conv or FusedConv.
    private static readonly HashSet<string> ComputeOps = new(StringComparer.Ordinal)
        { "MatMul", "Gemm", "Conv", "ConvTranspose", "FusedConv", "FusedMatMul", "FusedGemm" };

    /// <summary>Runs ORT's optimizer (CPU, <see cref="OptimizationLevel.All"/>, one thread) on <paramref name="model"/> and audits the result.</summary>
    public static FusionAuditReport Run(Model model)
    {
        var folder = Directory.CreateTempSubdirectory("onnxquant-audit-");
        try
        {
            string path = Path.Combine(folder.FullName, "optimized.onnx");
            using (ModelRunner.FromModel(model, new RunnerOptions { Optimization = OptimizationLevel.All, OptimizedModelPath = path })) { }
            using var optimized = OnnxReader.Read(path);
            return Analyze(optimized);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    /// <summary>Audits a graph ORT already optimized (read from its <c>OptimizedModelFilePath</c>).</summary>
    public static FusionAuditReport Analyze(Model optimized)
    {
        var kernels = new SortedDictionary<string, int>(StringComparer.Ordinal);
        var unfused = new List<UnfusedDequantize>();
        foreach (var node in optimized.AllGraphs().SelectMany(g => g.Nodes))
        {
            if (node.Domain == KernelLibrary.Domain)
            {
                string key = $"{KernelLibrary.Domain}.{node.OpType}";
                kernels[key] = kernels.GetValueOrDefault(key) + 1;
            }
            else if (IsIntegerKernel(node.OpType)) kernels[node.OpType] = kernels.GetValueOrDefault(node.OpType) + 1;
            if (node.OpType != "DequantizeLinear") continue;
            var consumers = node.Outputs[0]?.Uses.Select(u => u.Node).ToList() ?? [];
            unfused.Add(new UnfusedDequantize(node.Name, node.Inputs[0]?.Name,
                consumers.Select(c => c.ToString()).ToList(), consumers.Any(c => ComputeOps.Contains(c.OpType))));
        }
        return new FusionAuditReport(kernels, unfused);
    }

    private static bool IsIntegerKernel(string opType) =>
        IntegerKernelOps.Contains(opType) || opType.StartsWith("QLinear", StringComparison.Ordinal);
}
