namespace OnnxQuant.Runtime.Diffusion;

/// <summary>
/// Fidelity of a quantized denoiser's sampler to the float one from the same noise (<see cref="DiffusionEvaluation"/>).
/// PSNR is of pixels (x+1)/2 clipped to [0, 1] (identical samples count as 100 dB); cosine of the raw final x.
/// </summary>
public sealed record DiffusionReport
{
    public required string FloatModel { get; init; }
    public required string QuantModel { get; init; }
    public required string Sampler { get; init; }
    public required int Samples { get; init; }
    public required int Seed { get; init; }
    public required int Steps { get; init; }
    public required DiffusionFidelity Quantized { get; init; }

    /// <summary>Float samples of seed S against float samples of seed S+1 with the same classes: what unrelated samples score.</summary>
    public DiffusionFidelity? FloatSeedSpread { get; init; }

    public string? Classifier { get; init; }

    /// <summary>Float samples whose predicted class is the requested one (the undertrained shared DiT: ≈ 20%).</summary>
    public double? FloatClassMatchRate { get; init; }

    public double? QuantClassMatchRate { get; init; }
    public required IReadOnlyList<DiffusionSampleScore> PerSample { get; init; }
}

/// <summary>Per-sample scores of one comparison, summarized; <see cref="AgreementRate"/> needs a classifier.</summary>
public sealed record DiffusionFidelity(double MeanPsnrDb, double WorstPsnrDb, int WorstPsnrSample, double MeanCosine, double WorstCosine,
    int? Agreements, double? AgreementRate);

/// <summary>One sample: its class, PSNR and cosine against the float sample, and the classes the classifier read.</summary>
public sealed record DiffusionSampleScore(int Index, long Class, double PsnrDb, double Cosine, long? FloatPredicted, long? QuantPredicted);
