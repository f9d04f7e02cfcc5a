using System.CommandLine;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Runtime.Audit;

namespace OnnxQuant.Cli.Commands;

/// <summary>
/// <c>onnxquant audit MODEL</c>: loads a quantized model in ONNX Runtime with graph optimizations on, reads the graph ORT
/// actually runs, and lists the integer kernels it formed and every DequantizeLinear it left unfused. Exits 3 when
/// a DequantizeLinear still feeds a MatMul, Gemm or Conv (the main compute path), so it can gate a build.
/// </summary>
public static class AuditCommand
{
    public static Command Create()
    {
        var model = new Argument<string>("MODEL") { Description = "The quantized model." };
        var command = new Command("audit", "Show which QDQ patterns ONNX Runtime fused into integer kernels, and which it left unfused.")
        {
            model,
        };
        command.SetAction(parse =>
        {
            using var m = OnnxReader.Read(parse.GetRequiredValue(model));
            var report = FusionAudit.Run(m);
            var output = parse.InvocationConfiguration.Output;
            foreach (string line in report.Lines()) output.WriteLine(line);
            return report.UnfusedOnComputePath.Count == 0 ? ExitCodes.Success : ExitCodes.GateFailed;
        });
        return command;
    }
}
