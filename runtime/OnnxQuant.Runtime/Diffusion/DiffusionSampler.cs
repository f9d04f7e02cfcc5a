using OnnxQuant.Ir;

namespace OnnxQuant.Runtime.Diffusion;

/// <summary>
/// Runs a <see cref="SamplerSpec"/> sampling loop with a denoiser in ONNX Runtime: seeded initial noise
/// (<see cref="SamplerNoise"/>), at every timestep one model call (with classifier-free guidance on the conditional
/// and unconditional halves of one batch of 2b, ε = ε_u + g·(ε_c − ε_u)), then the DDIM update
/// (<see cref="DdimStep"/>). Samples are processed <c>batch</c> at a time; each sample's noise and class depend only on
/// its index, the seed and the count, so results are deterministic for a given batch size.
/// </summary>
public sealed class DiffusionSampler
{
    private readonly ModelRunner _denoiser;
    private readonly string _output;
    private readonly DataType _tType;
    private readonly DataType _conditionType;

    public DiffusionSampler(ModelRunner denoiser, SamplerSpec spec)
    {
        _denoiser = denoiser;
        Spec = spec;
        var inputs = denoiser.InputMetadata;
        string names = string.Join(", ", inputs.Keys);
        var expected = new List<string> { spec.XInput, spec.TInput };
        if (spec.ConditionInput is not null) expected.Add(spec.ConditionInput);
        foreach (string name in expected)
            if (!inputs.ContainsKey(name))
                throw new OnnxQuantException($"Sampler {spec.Source} feeds input '{name}', but the denoiser's inputs are {names}; set x_input/t_input/condition_input in the sampler file.");
        foreach (string name in inputs.Keys)
            if (!expected.Contains(name))
                throw new OnnxQuantException($"The denoiser has input '{name}', which sampler {spec.Source} does not feed (it feeds {string.Join(", ", expected)}); set x_input/t_input/condition_input.");
        var x = inputs[spec.XInput];
        if ((DataType)(int)x.ElementDataType != DataType.Float)
            throw new OnnxQuantException($"The denoiser's sample input '{spec.XInput}' is {((DataType)(int)x.ElementDataType).OnnxName()}; the sampler feeds float32.");
        if (x.Dimensions.Length < 1 || x.Dimensions.Skip(1).Any(d => d <= 0))
            throw new OnnxQuantException($"The denoiser's sample input '{spec.XInput}' has shape [{string.Join(",", x.Dimensions)}]; every dimension after the batch must be fixed.");
        SampleDims = x.Dimensions.Skip(1).Select(d => (long)d).ToArray();
        _tType = IndexType(inputs[spec.TInput], spec.TInput);
        _conditionType = spec.ConditionInput is null ? DataType.Int64 : IndexType(inputs[spec.ConditionInput], spec.ConditionInput);
        _output = spec.Output ?? denoiser.OutputNames[0];
        if (!denoiser.OutputNames.Contains(_output))
            throw new OnnxQuantException($"Sampler {spec.Source} reads output '{_output}', but the denoiser's outputs are {string.Join(", ", denoiser.OutputNames)}.");
    }

    public SamplerSpec Spec { get; }

    /// <summary>Shape of one sample (the x input without its batch axis).</summary>
    public long[] SampleDims { get; }

    public int SampleLength => checked((int)SampleDims.Aggregate(1L, (a, b) => a * b));

    /// <summary>
    /// Draws <paramref name="count"/> samples (indices <paramref name="first"/> … first+count−1 of the seeded noise
    /// stream) and returns them as one array [count, …sample dims]. <paramref name="observe"/>, when given, sees the
    /// denoiser's feeds at every step (step index, feeds) before the model runs; <paramref name="classes"/> overrides
    /// the class of each sample (default <see cref="SamplerSpec.ClassOf"/>).
    /// </summary>
    public float[] Sample(int count, int seed, int batch = 8, int first = 0, Action<int, IReadOnlyDictionary<string, Tensor>>? observe = null,
        IReadOnlyList<long>? classes = null, IProgress<int>? progress = null, CancellationToken cancel = default)
    {
        if (count < 1) throw new OnnxQuantException($"The sample count must be at least 1 (got {count}).");
        if (batch < 1) throw new OnnxQuantException($"The sampler's batch size must be at least 1 (got {batch}).");
        int length = SampleLength;
        var result = new float[checked(count * length)];
        for (int start = 0; start < count; start += batch)
        {
            int b = Math.Min(batch, count - start);
            var x = result.AsSpan(start * length, b * length);
            for (int i = 0; i < b; i++) SamplerNoise.Initial(seed, first + start + i, x.Slice(i * length, length));
            var cls = new long[b];
            for (int i = 0; i < b; i++) cls[i] = classes?[start + i] ?? Spec.ClassOf(first + start + i, first + count);
            RunLoop(result.AsMemory(start * length, b * length), b, cls, seed, first + start, observe, cancel);
            progress?.Report(start + b);
        }
        return result;
    }

    private void RunLoop(Memory<float> xMemory, int b, long[] classes, int seed, int firstIndex, Action<int, IReadOnlyDictionary<string, Tensor>>? observe, CancellationToken cancel)
    {
        int length = SampleLength;
        bool cfg = Spec.UsesGuidance;
        int rows = cfg ? 2 * b : b;
        long[] dims = [rows, .. SampleDims];
        var condition = new long[rows];
        for (int i = 0; i < b; i++) condition[i] = classes[i];
        if (cfg) for (int i = b; i < rows; i++) condition[i] = Spec.NullClass!.Value;
        var noise = Spec.Eta > 0 ? new float[length] : [];
        var feedX = new float[rows * length];
        for (int step = 0; step < Spec.Timesteps.Length; step++)
        {
            cancel.ThrowIfCancellationRequested();
            int t = Spec.Timesteps[step];
            var x = xMemory.Span;
            x.CopyTo(feedX);
            if (cfg) x.CopyTo(feedX.AsSpan(b * length));
            var feeds = new Dictionary<string, Tensor>(StringComparer.Ordinal)
            {
                [Spec.XInput] = Tensor.FromFloats(feedX, dims),
                [Spec.TInput] = IndexTensor(_tType, Enumerable.Repeat((long)t, rows).ToArray()),
            };
            if (Spec.ConditionInput is not null) feeds[Spec.ConditionInput] = IndexTensor(_conditionType, condition);
            observe?.Invoke(step, feeds);
            var outputs = _denoiser.Run(feeds, [_output]);
            var eps = FloatValues(outputs[_output], rows * length);
            var guided = cfg ? Guide(eps, b * length) : eps;
            double alphaT = Spec.AlphasCumprod[t];
            double alphaPrev = step + 1 < Spec.Timesteps.Length ? Spec.AlphasCumprod[Spec.Timesteps[step + 1]] : 1.0;
            x = xMemory.Span;
            for (int i = 0; i < b; i++)
            {
                if (Spec.Eta > 0) SamplerNoise.Step(seed, firstIndex + i, step, noise);
                DdimStep.Apply(x.Slice(i * length, length), guided.AsSpan(i * length, length), alphaT, alphaPrev, Spec.ClipX0, Spec.Eta, noise);
            }
        }
    }

    /// <summary>ε = ε_u + g·(ε_c − ε_u) in float64, stored as float32.</summary>
    private float[] Guide(float[] eps, int half)
    {
        double g = Spec.GuidanceScale;
        var guided = new float[half];
        for (int i = 0; i < half; i++)
        {
            double c = eps[i], u = eps[half + i];
            guided[i] = (float)(u + g * (c - u));
        }
        return guided;
    }

    private float[] FloatValues(Tensor t, int expected)
    {
        if (t.ElementType != DataType.Float)
            throw new OnnxQuantException($"The denoiser's output '{_output}' is {t.ElementType.OnnxName()}; the sampler reads float32 ε.");
        var values = t.AsSpan<float>();
        if (values.Length != expected)
            throw new OnnxQuantException($"The denoiser's output '{_output}' has {values.Length} values for a batch that needs {expected} (shape of the sample input).");
        return values.ToArray();
    }

    private static DataType IndexType(Microsoft.ML.OnnxRuntime.NodeMetadata m, string name)
    {
        var type = (DataType)(int)m.ElementDataType;
        if (type is DataType.Int64 or DataType.Int32 or DataType.Float) return type;
        throw new OnnxQuantException($"The denoiser's input '{name}' is {type.OnnxName()}; the sampler feeds timesteps and classes as int64, int32 or float.");
    }

    private static Tensor IndexTensor(DataType type, long[] values) => type switch
    {
        DataType.Int32 => Tensor.FromInt32s(values.Select(v => (int)v).ToArray(), values.Length),
        DataType.Float => Tensor.FromFloats(values.Select(v => (float)v).ToArray(), values.Length),
        _ => Tensor.FromInt64s(values, values.Length),
    };
}
