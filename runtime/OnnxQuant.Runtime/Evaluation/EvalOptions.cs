using OnnxQuant.Runtime.DataSources;
using OnnxQuant.Runtime;

namespace OnnxQuant.Runtime.Evaluation;

/// <summary>What to evaluate and how (see <see cref="ModelEvaluator"/>).</summary>
public sealed record EvalOptions
{
    public EvalTask Task { get; init; } = EvalTask.Compare;

    /// <summary>Class ids (.npy of int64 or int32, one per sample) for classify; a text file, one label per line, for ctc.</summary>
    public string? Labels { get; init; }

    /// <summary>CTC keys file (one character per line), needed by <see cref="EvalTask.Ctc"/>.</summary>
    public string? Keys { get; init; }

    /// <summary>Use the first N samples (all by default).</summary>
    public int? Count { get; init; }

    /// <summary>Pass over the first N samples first (a held-out split: calibrate on the first N, evaluate on the rest).</summary>
    public int Skip { get; init; }

    /// <summary>How a folder of images becomes input tensors.</summary>
    public ImagePreprocessing Images { get; init; } = new();

    /// <summary>Shapes of one sample per input (<c>--shape</c>), fixing free dimensions (random data needs them).</summary>
    public IReadOnlyDictionary<string, long[]> Shapes { get; init; } = new Dictionary<string, long[]>();

    /// <summary>Seed of <c>random</c> data.</summary>
    public int Seed { get; init; }

    /// <summary>
    /// A second stage: the float model's outputs feed <c>Then.Float</c>, the quantized model's feed <c>Then.Quant</c>
    /// (by name, or the only output to the only input), and the second stage's outputs are what is compared — an
    /// encoder then its decoder.
    /// </summary>
    public (string Float, string Quant)? Then { get; init; }

    /// <summary>Also compare every intermediate tensor the two models share (by name and shape).</summary>
    public bool PerTensor { get; init; }

    /// <summary>
    /// ONNX Runtime graph optimizations: on (All) by default, because that is how a quantized model is deployed and
    /// only then does ORT run the integer kernels whose rounding the accuracy should reflect.
    /// </summary>
    public OptimizationLevel Optimization { get; init; } = OptimizationLevel.All;

    /// <summary>ONNX Runtime intra-op threads (0: ORT chooses).</summary>
    public int Threads { get; init; } = 1;

    /// <summary>Where ORT runs both models (CPU by default).</summary>
    public ExecutionProvider Provider { get; init; } = ExecutionProvider.Cpu;

    /// <summary>Gate: the quantized model's top-1 (or exact-match) rate in percent must be at least this.</summary>
    public double? MinTop1 { get; init; }

    /// <summary>Gate: float rate − quantized rate, in percentage points, must be at most this.</summary>
    public double? MaxDrop { get; init; }

    /// <summary>Gate (language models): next-token agreement with the float model, in percent, must be at least this.</summary>
    public double? MinAgreement { get; init; }

    /// <summary>Gate (language models): mean KL(float‖quant) per position, in nats, must be at most this.</summary>
    public double? MaxKl { get; init; }
}
