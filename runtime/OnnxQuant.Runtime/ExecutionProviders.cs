using Microsoft.ML.OnnxRuntime;
using OnnxQuant.Ir;

namespace OnnxQuant.Runtime;

/// <summary>
/// Checks that an <see cref="ExecutionProvider"/> can run here and appends it to ORT session options. The check asks
/// the loaded ORT library which providers it was built with, so the CPU package's build fails with one plain sentence
/// (how to rebuild) before any model is read, instead of ORT's native error at the first session.
/// </summary>
public static class ExecutionProviders
{
    private const string CudaProviderName = "CUDAExecutionProvider";

    private const string CudaNeeds =
        "--provider cuda needs onnxquant built with ONNX Runtime's GPU package (dotnet build -p:OnnxQuantCuda=true), "
        + "an NVIDIA GPU and the CUDA 13 (libcudart.so.13, libcublas.so.13) and cuDNN 9 libraries on the library path; or use --provider cpu";

    /// <summary>Throws an <see cref="OnnxQuantException"/> (what is missing, how to fix it) unless <paramref name="provider"/> is usable.</summary>
    public static void EnsureAvailable(ExecutionProvider provider)
    {
        if (provider == ExecutionProvider.Cpu) return;
        string[] available = OrtEnv.Instance().GetAvailableProviders();
        if (!available.Contains(CudaProviderName, StringComparer.Ordinal))
            throw new OnnxQuantException(
                $"{CudaNeeds}. This build's ONNX Runtime has only {string.Join(", ", available)}.");
    }

    /// <summary>Appends <paramref name="provider"/> (nothing for the CPU, which ORT always has) to <paramref name="options"/>.</summary>
    public static void Append(SessionOptions options, ExecutionProvider provider)
    {
        if (provider == ExecutionProvider.Cpu) return;
        EnsureAvailable(provider);
        // ORT also logs a failed provider load on stderr (multi-line, coloured); our error below says it in one line.
        var env = OrtEnv.Instance();
        var logLevel = env.EnvLogLevel;
        env.EnvLogLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL;
        try { options.AppendExecutionProvider_CUDA(0); }
        catch (OnnxRuntimeException e)
        {
            // The GPU package is there but the CUDA/cuDNN libraries its CUDA provider loads are not.
            throw new OnnxQuantException($"{CudaNeeds}. ONNX Runtime could not start CUDA: {FirstLine(e.Message)}", e);
        }
        finally { env.EnvLogLevel = logLevel; }
    }

    private static string FirstLine(string message) => message.Split('\n', 2)[0].Trim();
}
