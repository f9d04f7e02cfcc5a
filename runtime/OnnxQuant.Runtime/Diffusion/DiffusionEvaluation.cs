using OnnxQuant.Ir;
using OnnxQuant.Runtime.Evaluation;

namespace OnnxQuant.Runtime.Diffusion;

/// <summary>
/// <c>eval --task diffusion</c>: runs the float and the quantized denoiser through the same sampler from the same
/// seeded noise and compares the final samples one by one (PSNR of pixels, cosine of x), and, with a classifier,
/// whether it reads the same class from both. Errors accumulate along the trajectory, so this measures what a
/// user sees, unlike one denoiser call's output error. The float sampler's own seed-to-seed spread (seed S against
/// S+1, same classes) is reported beside it, as the scale on which to read the figures.
/// </summary>
public static class DiffusionEvaluation
{
    public const int DefaultBatch = 8;

    public static DiffusionReport Run(string floatPath, string quantPath, string samplerPath, DiffusionEvalOptions options)
    {
        foreach (string path in new[] { floatPath, quantPath, options.Classifier }.OfType<string>())
            if (!File.Exists(path)) throw new OnnxQuantException($"Model {path} does not exist.");
        if (options.Count < 1) throw new OnnxQuantException($"--count must be at least 1 (got {options.Count}).");
        if (options.ClassifierStd <= 0) throw new OnnxQuantException($"The classifier's normalization std must be positive (got {options.ClassifierStd}).");
        var spec = SamplerSpec.Load(samplerPath);
        var runnerOptions = new RunnerOptions { Optimization = options.Optimization, IntraOpThreads = options.Threads, Provider = options.Provider };
        int n = options.Count;

        float[] floatSamples, quantSamples, spreadSamples = [];
        long[] sampleDims;
        using (var floatRunner = ModelRunner.FromFile(floatPath, runnerOptions))
        {
            var sampler = new DiffusionSampler(floatRunner, spec);
            sampleDims = sampler.SampleDims;
            floatSamples = sampler.Sample(n, options.Seed, options.Batch);
            if (!options.NoSpread)
            {
                // Same classes as seed S's samples, other noise.
                var classes = Enumerable.Range(0, n).Select(i => spec.ClassOf(i, n)).ToArray();
                spreadSamples = sampler.Sample(n, options.Seed + 1, options.Batch, classes: classes);
            }
        }
        using (var quantRunner = ModelRunner.FromFile(quantPath, runnerOptions))
            quantSamples = new DiffusionSampler(quantRunner, spec).Sample(n, options.Seed, options.Batch);

        int length = floatSamples.Length / n;
        long[]? floatClasses = null, quantClasses = null, spreadClasses = null;
        if (options.Classifier is { } classifier)
        {
            using var runner = ModelRunner.FromFile(classifier, runnerOptions);
            floatClasses = Classify(runner, floatSamples, n, sampleDims, options);
            quantClasses = Classify(runner, quantSamples, n, sampleDims, options);
            if (!options.NoSpread) spreadClasses = Classify(runner, spreadSamples, n, sampleDims, options);
        }

        var scores = new List<DiffusionSampleScore>(n);
        for (int i = 0; i < n; i++)
        {
            var f = floatSamples.AsSpan(i * length, length);
            var q = quantSamples.AsSpan(i * length, length);
            scores.Add(new DiffusionSampleScore(i, spec.ClassOf(i, n), PixelPsnr(f, q), Cosine(f, q), floatClasses?[i], quantClasses?[i]));
        }
        DiffusionFidelity? spread = null;
        if (!options.NoSpread)
        {
            var spreadScores = Enumerable.Range(0, n).Select(i =>
            {
                var f = floatSamples.AsSpan(i * length, length);
                var s = spreadSamples.AsSpan(i * length, length);
                return new DiffusionSampleScore(i, spec.ClassOf(i, n), PixelPsnr(f, s), Cosine(f, s), floatClasses?[i], spreadClasses?[i]);
            }).ToList();
            spread = Summarize(spreadScores);
        }
        return new DiffusionReport
        {
            FloatModel = floatPath,
            QuantModel = quantPath,
            Sampler = samplerPath,
            Samples = n,
            Seed = options.Seed,
            Steps = spec.Timesteps.Length,
            Quantized = Summarize(scores),
            FloatSeedSpread = spread,
            Classifier = options.Classifier,
            FloatClassMatchRate = floatClasses is null ? null : 100.0 * scores.Count(s => s.FloatPredicted == s.Class) / n,
            QuantClassMatchRate = quantClasses is null ? null : 100.0 * scores.Count(s => s.QuantPredicted == s.Class) / n,
            PerSample = scores,
        };
    }

    /// <summary>PSNR of the pixels (x+1)/2 (clipped to [0, 1] by <see cref="Psnr"/>).</summary>
    public static double PixelPsnr(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        var pa = new float[a.Length];
        var pb = new float[b.Length];
        for (int i = 0; i < a.Length; i++) pa[i] = (a[i] + 1) / 2;
        for (int i = 0; i < b.Length; i++) pb[i] = (b[i] + 1) / 2;
        return Psnr.Of(pa, pb);
    }

    /// <summary>Cosine similarity in float64; two all-zero samples count as 1, one all-zero as 0.</summary>
    public static double Cosine(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double dot = 0, na = 0, nb = 0;
        for (int i = 0; i < a.Length; i++)
        {
            dot += (double)a[i] * b[i];
            na += (double)a[i] * a[i];
            nb += (double)b[i] * b[i];
        }
        if (na == 0 && nb == 0) return 1;
        if (na == 0 || nb == 0) return 0;
        return dot / Math.Sqrt(na * nb);
    }

    private static DiffusionFidelity Summarize(IReadOnlyList<DiffusionSampleScore> scores)
    {
        var worst = scores.MinBy(s => s.PsnrDb)!;
        int? agreements = scores[0].FloatPredicted is null ? null : scores.Count(s => s.FloatPredicted == s.QuantPredicted);
        return new DiffusionFidelity(scores.Average(s => s.PsnrDb), worst.PsnrDb, worst.Index, scores.Average(s => s.Cosine), scores.Min(s => s.Cosine),
            agreements, agreements is int a ? 100.0 * a / scores.Count : null);
    }

    private static long[] Classify(ModelRunner runner, float[] samples, int n, long[] sampleDims, DiffusionEvalOptions options)
    {
        if (runner.InputNames.Count != 1)
            throw new OnnxQuantException($"The classifier {options.Classifier} has {runner.InputNames.Count} inputs; it must take the image alone.");
        int length = samples.Length / n;
        var result = new long[n];
        for (int start = 0; start < n; start += options.Batch)
        {
            int b = Math.Min(options.Batch, n - start);
            var pixels = new float[b * length];
            for (int i = 0; i < pixels.Length; i++)
            {
                double p = Math.Clamp((samples[start * length + i] + 1.0) / 2, 0, 1);
                pixels[i] = (float)((p - options.ClassifierMean) / options.ClassifierStd);
            }
            var outputs = runner.Run(new Dictionary<string, Tensor> { [runner.InputNames[0]] = Tensor.FromFloats(pixels, [b, .. sampleDims]) });
            var logits = FloatValues.Of(outputs[runner.OutputNames[0]]);
            if (logits.Length % b != 0) throw new OnnxQuantException($"The classifier's first output has {logits.Length} values for {b} images; it must give [b, classes].");
            int classes = logits.Length / b;
            for (int i = 0; i < b; i++) result[start + i] = ArgMax.Of(logits.Slice(i * classes, classes));
        }
        return result;
    }
}
