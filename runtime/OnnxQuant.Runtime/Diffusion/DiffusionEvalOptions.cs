namespace OnnxQuant.Runtime.Diffusion;

/// <summary>How <see cref="DiffusionEvaluation"/> samples and scores.</summary>
public sealed record DiffusionEvalOptions
{
    /// <summary>Samples drawn by each sampler.</summary>
    public int Count { get; init; } = 200;

    /// <summary>Noise seed of the compared samples; the float sampler's spread is measured against seed + 1.</summary>
    public int Seed { get; init; }

    public int Batch { get; init; } = DiffusionEvaluation.DefaultBatch;

    /// <summary>A classifier of final samples (e.g. vit_mnist.onnx): class agreement between float and quantized samples.</summary>
    public string? Classifier { get; init; }

    /// <summary>The classifier reads ((clamp((x+1)/2, 0, 1) − mean)/std): pixels in [0, 1], then its own normalization.</summary>
    public double ClassifierMean { get; init; }

    public double ClassifierStd { get; init; } = 1;

    /// <summary>Skip the float sampler's second run (seed + 1) that measures its seed-to-seed spread.</summary>
    public bool NoSpread { get; init; }

    public OptimizationLevel Optimization { get; init; } = OptimizationLevel.All;
    public int Threads { get; init; }

    /// <summary>Where ORT runs the denoisers and the classifier (CPU by default).</summary>
    public ExecutionProvider Provider { get; init; } = ExecutionProvider.Cpu;
}
