using OnnxQuant.Ir;

namespace OnnxQuant.Runtime.Benchmarking;

/// <summary>How <see cref="LatencyBenchmark"/> measures.</summary>
public sealed record BenchOptions
{
    /// <summary>ORT intra-op threads; 0 lets ORT choose. One by default: reproducible and light on shared machines.</summary>
    public int Threads { get; init; } = 1;

    /// <summary>Where ORT runs the models (CPU by default).</summary>
    public ExecutionProvider Provider { get; init; } = ExecutionProvider.Cpu;

    /// <summary>Timed runs of each model (at least; <see cref="MinSeconds"/> may add more).</summary>
    public int Runs { get; init; } = 50;

    /// <summary>Untimed runs of each model first.</summary>
    public int Warmup { get; init; } = 5;

    /// <summary>Keep timing until the timed phase has lasted this long, as well as <see cref="Runs"/> runs.</summary>
    public double MinSeconds { get; init; }

    /// <summary>Seed of the synthetic inputs (<see cref="SampleInputs"/>).</summary>
    public int Seed { get; init; }

    /// <summary>Sizes of inputs by name (<see cref="InputShapes.Parse"/>); required for inputs with free dimensions.</summary>
    public IReadOnlyDictionary<string, long[]> Shapes { get; init; } = new Dictionary<string, long[]>();

    /// <summary>
    /// Tensors to feed instead of seeded random ones (e.g. one sample of the user's data); they fix the inputs' sizes,
    /// so <see cref="Shapes"/> is not consulted.
    /// </summary>
    public IReadOnlyDictionary<string, Tensor>? Feeds { get; init; }

    /// <summary>The time source; a fake in tests.</summary>
    public IBenchmarkClock Clock { get; init; } = StopwatchClock.Instance;
}
