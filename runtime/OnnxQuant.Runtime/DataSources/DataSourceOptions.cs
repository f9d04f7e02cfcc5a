namespace OnnxQuant.Runtime.DataSources;

/// <summary>How many samples, in which order and batches, and how to make inputs of images or random values.</summary>
public sealed record DataSourceOptions
{
    /// <summary>Samples to use: all by default (256 for random data).</summary>
    public int? Count { get; init; }

    /// <summary>
    /// Samples passed over before <see cref="Count"/> are taken (after <see cref="Shuffle"/>): <c>Skip = 32</c> uses
    /// samples 32, 33… — a held-out split of one file or folder (calibrate on the first 32, evaluate on the rest).
    /// </summary>
    public int Skip { get; init; }

    /// <summary>Take a seeded random subset/order instead of the first <see cref="Count"/> samples in file order.</summary>
    public bool Shuffle { get; init; }

    public int Seed { get; init; }

    /// <summary>Samples per model run (concatenated along axis 0).</summary>
    public int BatchSize { get; init; } = 1;

    /// <summary>Shapes of one sample per input (<c>--shape</c>), fixing free dimensions.</summary>
    public IReadOnlyDictionary<string, long[]> Shapes { get; init; } = new Dictionary<string, long[]>();

    /// <summary>Only this part of the selected batches (<c>calibrate --shard i/n</c>); null for all.</summary>
    public DataShard? Shard { get; init; }

    public ImagePreprocessing Images { get; init; } = new();
    public RandomInputOptions Random { get; init; } = new();
}
