namespace OnnxQuant.Runtime;

/// <summary>Where ONNX Runtime runs a model's operators.</summary>
public enum ExecutionProvider
{
    /// <summary>ORT's CPU provider (every build).</summary>
    Cpu,

    /// <summary>
    /// ORT's CUDA provider: only in a build made with <c>-p:OnnxQuantCuda=true</c> (ORT's GPU package), on a machine
    /// with an NVIDIA GPU and the CUDA 13 and cuDNN 9 libraries. Operators it has no kernel for (our com.onnxquant
    /// custom ops among them) fall back to the CPU provider, which ORT always appends last.
    /// </summary>
    Cuda,
}
