namespace OnnxQuant.Runtime;

/// <summary>How to create an ONNX Runtime session.</summary>
public sealed record RunnerOptions
{
    public OptimizationLevel Optimization { get; init; } = OptimizationLevel.None;

    /// <summary>Threads for one operator; 0 lets ORT choose. One by default: reproducible and light on shared machines.</summary>
    public int IntraOpThreads { get; init; } = 1;

    public int InterOpThreads { get; init; } = 1;

    /// <summary>Where ORT writes the graph it actually runs (after its optimizations), e.g. for the fusion audit.</summary>
    public string? OptimizedModelPath { get; init; }

    /// <summary>Busy-wait between operators; off for benchmarks that interleave two models.</summary>
    public bool AllowSpinning { get; init; }

    /// <summary>Extra session configuration entries (e.g. session.qdq_matmulnbits_accuracy_level).</summary>
    public IReadOnlyDictionary<string, string> SessionConfig { get; init; } = new Dictionary<string, string>();

    /// <summary>Absolute paths of custom-op libraries to register.</summary>
    public IReadOnlyList<string> CustomOpLibraries { get; init; } = [];

    /// <summary>Where ORT runs the operators (CPU by default; <see cref="ExecutionProviders"/>).</summary>
    public ExecutionProvider Provider { get; init; } = ExecutionProvider.Cpu;

    public static RunnerOptions Default { get; } = new();
}
