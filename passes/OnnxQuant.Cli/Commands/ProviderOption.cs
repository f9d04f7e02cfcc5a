using System.CommandLine;
using OnnxQuant.Runtime;

namespace OnnxQuant.Cli.Commands;

/// <summary>
/// <c>--provider cpu|cuda</c> of the commands that run a model: where ONNX Runtime runs it. Any other value is a
/// usage error from the parser (exit 1); cuda on a build or machine without it is checked before any model is read
/// (<see cref="ExecutionProviders.EnsureAvailable"/>), so it fails with one sentence and no partial output.
/// </summary>
internal static class ProviderOption
{
    public static Option<string> Create()
    {
        var option = new Option<string>("--provider")
        {
            HelpName = "cpu|cuda",
            Description = "Where ONNX Runtime runs the model: cpu, or cuda (needs a build with -p:OnnxQuantCuda=true, an NVIDIA GPU, CUDA 13 and cuDNN 9; "
                + "operators CUDA has no kernel for, such as OnnxQuant's custom ops, run on the CPU). Docs: passes/OnnxQuant.Cli/docs/gpu.md.",
            DefaultValueFactory = _ => "cpu",
        };
        // Not AcceptOnlyFromAmong: its message ("Argument 'tpu' not recognized") does not say which option was wrong.
        option.Validators.Add(result =>
        {
            string? value = result.GetValueOrDefault<string>();
            if (value is not ("cpu" or "cuda")) result.AddError($"--provider is cpu or cuda; '{value}' is not (cuda needs a GPU build: passes/OnnxQuant.Cli/docs/gpu.md).");
        });
        return option;
    }

    public static ExecutionProvider Parse(string value) => value == "cuda" ? ExecutionProvider.Cuda : ExecutionProvider.Cpu;

    /// <summary>"CPU" or "CUDA", for report headers.</summary>
    public static string Label(ExecutionProvider provider) => provider == ExecutionProvider.Cuda ? "CUDA" : "CPU";
}
