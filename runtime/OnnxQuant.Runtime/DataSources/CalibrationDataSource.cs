using OnnxQuant.Ir;

namespace OnnxQuant.Runtime.DataSources;

/// <summary>
/// Calibration samples for a model, in batches, checked against the model's inputs when opened: every input has
/// data, of the model's element type and a shape that fits. Samples are read when a batch is made and released
/// with it; enumerating <see cref="Batches"/> again (another pass of a chunked calibration) gives the same batches.
/// </summary>
/// <remarks>
/// <para>Where data comes from (<see cref="Open(string, Model, DataSourceOptions?)"/>): samples in memory
/// (<see cref="CalibrationSamples"/>); <c>random</c>; a <c>.npy</c> (single-input models); a
/// <c>.npz</c> (keys = input names); a folder holding <c>NAME.npy</c> per input, or images (JPEG/PNG, for a
/// single image input, preprocessed by <see cref="ImagePreprocessing"/>).</para>
/// <para>Shapes: arrays hold samples along axis 0. A sample of rank r − 1 for an input of rank r is one batch item
/// (a batch of b samples is [b, …]); a sample of the input's full rank (random data, or an array of rank r + 1) is
/// fed as it is, b samples concatenated along axis 0. Fixed dimensions must match; free ones take the data's size;
/// <c>--shape</c> fixes the shape of one sample as fed (batch size 1).</para>
/// <para>Images of different sizes: at batch size 1, an image input whose model dimensions (besides the batch) are
/// partly free and not fixed by <c>--shape</c> takes each image at its own size; the fixed dimensions (channels) are
/// checked per image. Otherwise every image must preprocess to the first one's size.</para>
/// </remarks>
public sealed class CalibrationDataSource : IDisposable
{
    private readonly ISampleProvider _provider;
    private readonly IReadOnlyList<ModelInput> _inputs;
    private readonly Dictionary<string, (SampleLayout Layout, bool AddBatchAxis)> _plan = new(StringComparer.Ordinal);
    private readonly int[] _order;
    private readonly NonFiniteInputValues _nonFinite = new();
    private readonly bool[] _scanned;
    private readonly HashSet<string> _variable = new(StringComparer.Ordinal);

    private CalibrationDataSource(ISampleProvider provider, IReadOnlyList<ModelInput> inputs, DataSourceOptions options, int? defaultCount)
    {
        _provider = provider;
        _inputs = inputs;
        BatchSize = options.BatchSize;
        if (BatchSize < 1) throw new OnnxQuantException($"The batch size must be at least 1 (got {BatchSize}).");
        ShapeOverrides.Validate(options.Shapes, inputs);
        foreach (var input in inputs)
        {
            _plan[input.Name] = Check(input, options.Shapes);
            // Images of different sizes, one per run, where the model leaves the sizes free and --shape does not fix them.
            if (provider is IVariableSizeSamples && BatchSize == 1 && !options.Shapes.ContainsKey(input.Name) && input.Dims.Skip(1).Any(d => d.Value is null))
                _variable.Add(input.Name);
        }

        int available = provider.Count;
        int skip = options.Skip;
        if (skip < 0) throw new OnnxQuantException($"--skip must be 0 or more (got {skip}).");
        if (available == 0)
            throw new OnnxQuantException($"{provider.Description} holds no samples (its axis 0 has size 0). Give data with at least one sample.");
        if (skip >= available)
            throw new OnnxQuantException($"{provider.Description} holds {available} samples; --skip {skip} leaves none. Skip fewer than {available}.");
        int count = options.Count ?? defaultCount ?? available - skip;
        if (count < 1) throw new OnnxQuantException($"The calibration count must be at least 1 (got {count}).");
        if (skip + count > available)
            throw new OnnxQuantException(skip == 0
                ? $"{provider.Description} holds {available} samples; cannot use {count}. Lower --count, or omit it to use all."
                : $"{provider.Description} holds {available} samples; after skipping {skip}, {available - skip} are left, not {count}. Lower --count, or omit it to use the rest.");
        var all = Enumerable.Range(0, available).ToArray();
        if (options.Shuffle) new Random(options.Seed).Shuffle(all);
        _order = all[skip..(skip + count)];
        if (FixedBatch() is (string name, long fixedBatch) && count % BatchSize != 0)
            throw new OnnxQuantException($"Input '{name}' has a fixed batch dimension ({fixedBatch}); {count} samples do not fill batches of {BatchSize}. Use a count that is a multiple of {BatchSize}.");
        TotalSamples = count;
        if (options.Shard is { } shard)
        {
            // Whole batches of the unsharded run, so that every batch (and each batch's statistics) is the same.
            long totalBatches = (count + BatchSize - 1) / BatchSize;
            var (firstBatch, batches) = shard.BatchRange(totalBatches);
            if (totalBatches < shard.Count)
                throw new OnnxQuantException($"--shard {shard}: {count} samples in batches of {BatchSize} make {totalBatches} batches, "
                    + $"too few for {shard.Count} shards; use at most {totalBatches} shards (or smaller batches).");
            int from = (int)(firstBatch * BatchSize), to = (int)Math.Min((firstBatch + batches) * BatchSize, count);
            _order = _order[from..to];
            Shard = shard;
            ShardBatches = (firstBatch, batches);
        }
        _scanned = new bool[BatchCount];
    }

    /// <summary>NaN and ±∞ among the float values of each input, over the batches made so far (each counted once).</summary>
    public NonFiniteInputValues NonFinite => _nonFinite;

    /// <summary>Where the data comes from (a file, folder or "random data").</summary>
    public string Description => _provider.Description;

    /// <summary>Samples used (after --skip and --count, and of this shard only under --shard).</summary>
    public int Count => _order.Length;

    /// <summary>Samples the whole run uses (after --skip and --count; all shards together).</summary>
    public int TotalSamples { get; }

    /// <summary>The shard these samples are (null for a whole run).</summary>
    public DataShard? Shard { get; }

    /// <summary>Under <see cref="Shard"/>, the batches of the whole run this shard takes.</summary>
    public (long First, long Count) ShardBatches { get; }

    public int BatchSize { get; }
    public int BatchCount => (Count + BatchSize - 1) / BatchSize;

    /// <summary>Indices of the samples used, in the order they are fed.</summary>
    public IReadOnlyList<int> Order => _order;

    /// <summary>
    /// Opens calibration data for <paramref name="model"/>: <c>random</c>, a <c>.npy</c> or <c>.npz</c> file, a
    /// folder of <c>NAME.npy</c> files or of images (see the remarks), or <c>sampler:FILE</c> (a diffusion denoiser's
    /// inputs along the sampling loop, <see cref="Diffusion.SamplerTrajectories"/>).
    /// </summary>
    public static CalibrationDataSource Open(string data, Model model, DataSourceOptions? options = null)
    {
        options ??= new DataSourceOptions();
        var inputs = ModelInput.FromModel(model);
        if (inputs.Count == 0) throw new OnnxQuantException("The model has no inputs to feed calibration data to.");
        ISampleProvider provider;
        int? defaultCount = null;
        if (Diffusion.SamplerTrajectories.IsSamplerData(data))
        {
            // Trajectories count as samples on the command line; every recorded step is one sample here.
            var recorded = Diffusion.SamplerTrajectories.Collect(data, model, options);
            return Create(new InMemorySamples(recorded), inputs, options with { Count = null, Skip = 0, Shuffle = false }, null);
        }
        if (data == "random")
        {
            // Skipped random samples are generated and passed over, so --skip gives the seeded stream's later samples.
            provider = new RandomSamples(inputs, options.Shapes, options.Random, options.Skip + (options.Count ?? RandomInputOptions.DefaultCount), options.Seed);
            defaultCount = RandomInputOptions.DefaultCount;
        }
        else if (Directory.Exists(data)) provider = OpenFolder(data, inputs, options);
        else if (File.Exists(data))
        {
            string ext = Path.GetExtension(data).ToLowerInvariant();
            provider = ext switch
            {
                ".npy" => ArraySamples.FromNpy(data, SingleInput(inputs, data, "holds one array").Name),
                ".npz" => ArraySamples.FromNpz(data),
                _ when ImagePipeline.IsImage(data) => throw new OnnxQuantException(
                    $"{data} is one image; give the folder that holds the calibration images."),
                _ => throw new OnnxQuantException($"{data}: calibration data must be a .npy or .npz file, a folder of NAME.npy files or images, or 'random'."),
            };
        }
        else throw new OnnxQuantException($"Calibration data {data} does not exist (expected a .npy/.npz file, a folder, or 'random').");
        return Create(provider, inputs, options, defaultCount);
    }

    /// <summary>Opens samples held in memory (named tensors per sample) for <paramref name="model"/>, with the same checks and batching as files.</summary>
    public static CalibrationDataSource Open(CalibrationSamples samples, Model model, DataSourceOptions? options = null)
    {
        var inputs = ModelInput.FromModel(model);
        if (inputs.Count == 0) throw new OnnxQuantException("The model has no inputs to feed calibration data to.");
        return Create(new InMemorySamples(samples), inputs, options ?? new DataSourceOptions(), null);
    }

    private static CalibrationDataSource Create(ISampleProvider provider, IReadOnlyList<ModelInput> inputs, DataSourceOptions options, int? defaultCount)
    {
        try { return new CalibrationDataSource(provider, inputs, options, defaultCount); }
        catch
        {
            provider.Dispose();
            throw;
        }
    }

    /// <summary>The batches, in order; each batch's tensors are read when it is reached.</summary>
    public IEnumerable<CalibrationBatch> Batches()
    {
        for (int b = 0; b < BatchCount; b++)
        {
            int first = b * BatchSize, n = Math.Min(BatchSize, Count - first);
            var indices = _order.AsMemory(first, n);
            var feeds = new Dictionary<string, Ir.Tensor>(StringComparer.Ordinal);
            string? origin = null;
            foreach (var input in _inputs)
            {
                var (layout, addBatchAxis) = _plan[input.Name];
                if (_variable.Contains(input.Name))
                {
                    var (sample, sampleDims, from) = ((IVariableSizeSamples)_provider).ReadOne(input.Name, indices.Span[0]);
                    long[] shape = addBatchAxis ? [1, .. sampleDims] : sampleDims;
                    origin = $"{from} (fed as [{string.Join(",", shape)}])";
                    for (int k = 1; k < input.Rank; k++)
                        if (input.Dims[k].Value is long d && d != shape[k])
                            throw new OnnxQuantException($"Model input '{input.Name}' is {input.ElementType.OnnxName()}{input.DescribeShape()}, but {origin} does not fit: "
                                + $"dimension {k} is {shape[k]}, not {d}.");
                    feeds[input.Name] = Ir.Tensor.FromRaw(layout.ElementType, shape, sample);
                    if (!_scanned[b]) _nonFinite.Add(input.Name, feeds[input.Name]);
                    continue;
                }
                var bytes = new byte[layout.SampleBytes * n];
                _provider.Read(input.Name, indices.Span, bytes);
                long[] dims = addBatchAxis ? [n, .. layout.SampleDims] : [layout.SampleDims[0] * n, .. layout.SampleDims[1..]];
                feeds[input.Name] = Ir.Tensor.FromRaw(layout.ElementType, dims, bytes);
                if (!_scanned[b]) _nonFinite.Add(input.Name, feeds[input.Name]);
            }
            _scanned[b] = true;
            yield return new CalibrationBatch(b, first, n, feeds, origin);
        }
    }

    public void Dispose() => _provider.Dispose();

    private (SampleLayout, bool) Check(ModelInput input, IReadOnlyDictionary<string, long[]> shapes)
    {
        if (!_provider.Names.Contains(input.Name))
        {
            string has = _provider.Names.Count == 0 ? "no arrays for any input" : "data for " + string.Join(", ", _provider.Names.Select(n => $"'{n}'"));
            throw new OnnxQuantException($"Model input '{input.Name}' has no calibration data: {_provider.Description} holds {has}. "
                + "Give every input (a .npz with one key per input, or a folder with one NAME.npy per input), or use --data random.");
        }
        var layout = _provider.Layout(input.Name);
        if (layout.ElementType != input.ElementType)
            throw new OnnxQuantException($"Model input '{input.Name}' is {input.ElementType.OnnxName()}, but {layout.Origin} holds {layout.ElementType.OnnxName()} ({layout.TypeDetail}). "
                + $"Convert the data to {input.ElementType.OnnxName()}.");
        var sample = layout.SampleDims;
        if (sample.Any(d => d < 1))
            throw ShapeError(input, layout, sample.Contains(0)
                ? $"a sample has shape [{string.Join(",", sample)}], which holds no values; every dimension of a sample must be at least 1"
                : $"a sample has shape [{string.Join(",", sample)}], with a negative dimension; every dimension of a sample must be at least 1 (the model's input shape may be damaged)");
        bool addBatchAxis;
        if (sample.Length == input.Rank - 1) addBatchAxis = true;
        else if (sample.Length == input.Rank && input.Rank > 0) addBatchAxis = false;
        else
            throw ShapeError(input, layout, $"a sample has rank {sample.Length}; the input needs samples of rank {input.Rank - 1} (arrays of shape [N{string.Concat(input.Dims.Skip(1).Select(d => "," + d))}])");

        // One batch is read into one array: a damaged or absurd shape is refused here, not by an overflow later.
        long batchBytes;
        try { batchBytes = checked(layout.ElementType.ByteLength(sample.Aggregate(1L, (a, d) => checked(a * d))) * BatchSize); }
        catch (OverflowException) { batchBytes = long.MaxValue; }
        if (batchBytes > Array.MaxLength)
            throw ShapeError(input, layout, $"a batch of {BatchSize} sample(s) of shape [{string.Join(",", sample)}] takes {(batchBytes == long.MaxValue ? "more than 2^63" : batchBytes.ToString(System.Globalization.CultureInfo.InvariantCulture))} bytes, "
                + "more than one array can hold (2 GB); give smaller samples (--shape) or a smaller --batch-size");

        // The shape of one sample as fed, compared with --shape or with the model's fixed dimensions.
        long[] fed = addBatchAxis ? [1, .. sample] : sample;
        if (shapes.TryGetValue(input.Name, out var given))
        {
            if (!fed.AsSpan().SequenceEqual(given))
                throw ShapeError(input, layout, $"one sample is fed as [{string.Join(",", fed)}], but --shape gives [{string.Join(",", given)}]");
        }
        for (int k = 1; k < input.Rank; k++)
            if (input.Dims[k].Value is long d && d != fed[k])
                throw ShapeError(input, layout, $"dimension {k} is {fed[k]}, but the model fixes it to {d}");
        if (input.Dims[0].Value is long batch && batch != fed[0] * BatchSize)
            throw ShapeError(input, layout, $"a batch of {BatchSize} sample(s) has {fed[0] * BatchSize} rows along axis 0, but the model fixes that dimension to {batch}"
                + (batch % fed[0] == 0 ? $"; use --batch-size {batch / fed[0]}" : ""));
        return (layout, addBatchAxis);
    }

    private (string, long)? FixedBatch()
    {
        foreach (var input in _inputs)
            if (input.Dims.Count > 0 && input.Dims[0].Value is long d) return (input.Name, d);
        return null;
    }

    private static OnnxQuantException ShapeError(ModelInput input, SampleLayout layout, string detail) =>
        new($"Model input '{input.Name}' is {input.ElementType.OnnxName()}{input.DescribeShape()}, but {layout.Origin} ({layout.TypeDetail}) does not fit: {detail}.");

    private static ModelInput SingleInput(IReadOnlyList<ModelInput> inputs, string data, string what)
    {
        if (inputs.Count == 1) return inputs[0];
        throw new OnnxQuantException($"{data} {what}, but the model has {inputs.Count} inputs ({string.Join(", ", inputs.Select(i => i.Name))}); "
            + "give a .npz with one key per input, or a folder with one NAME.npy per input.");
    }

    private static ISampleProvider OpenFolder(string folder, IReadOnlyList<ModelInput> inputs, DataSourceOptions options)
    {
        var npy = Directory.EnumerateFiles(folder, "*.npy").Select(Path.GetFileNameWithoutExtension).ToHashSet(StringComparer.Ordinal);
        bool anyInputArray = inputs.Any(i => npy.Contains(i.Name));
        bool images = Directory.EnumerateFiles(folder).Any(ImagePipeline.IsImage);
        if (anyInputArray) return ArraySamples.FromFolder(folder, inputs.Select(i => i.Name));
        if (images)
        {
            var input = options.Images.Input is { } name
                ? inputs.FirstOrDefault(i => i.Name == name) ?? throw new OnnxQuantException(
                    $"The image preprocessing names input '{name}', which the model does not have; its inputs are {string.Join(", ", inputs.Select(i => i.Name))}.")
                : SingleInput(inputs, folder, "holds images for one input");
            return new ImageSamples(folder, input.Name, options.Images);
        }
        string found = npy.Count > 0 ? $" (it has {string.Join(", ", npy.Order().Select(n => n + ".npy"))}, none named after an input)" : "";
        throw new OnnxQuantException($"{folder} holds neither NAME.npy files for the model's inputs ({string.Join(", ", inputs.Select(i => i.Name))}) nor images (JPEG, PNG){found}.");
    }
}
