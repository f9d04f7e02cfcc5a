using System.CommandLine;
using OnnxQuant.Ir;
using OnnxQuant.Passes.Calibration;
using OnnxQuant.Runtime.DataSources;

namespace OnnxQuant.Cli.Commands;

/// <summary>
/// What to feed a model, the same options for <c>eval</c> and <c>bench</c> (one definition, so their spellings and
/// meanings cannot drift apart): <c>--data PATH|random</c>, <c>--shape NAME=D0,D1,...</c>, <c>--image KEY=VALUE</c>,
/// <c>--seed S</c>.
/// </summary>
internal sealed class ModelInputOptions
{
    public ModelInputOptions(bool dataRequired, string dataUse)
    {
        Data = new Option<string>("--data")
        {
            HelpName = "PATH|random",
            Description = $"{dataUse}: a .npy (single-input models), a .npz (keys = input names), a folder of NAME.npy files or images, " +
                          "or 'random' (seeded random values; give --shape for free dimensions).",
            Required = dataRequired,
        };
        if (!dataRequired) Data.DefaultValueFactory = _ => "random";
    }

    public Option<string> Data { get; }

    public Option<string[]> Shape { get; } = new("--shape")
    {
        HelpName = "NAME=D0,D1,...",
        Description = "Sizes of an input as fed, NAME=D0,D1,... (repeatable); fixes free dimensions such as a batch size.",
    };

    public Option<string[]> Image { get; } = new("--image")
    {
        HelpName = "KEY=VALUE",
        Description = "Image preprocessing for a folder of images (repeatable; keys of a recipe's calibration.images), e.g. --image resize-shorter-side=256 --image crop=256.",
    };

    public Option<int> Seed { get; } = new("--seed") { HelpName = "S", Description = "Seed of random data.", DefaultValueFactory = _ => 0 };

    public IEnumerable<Option> All => [Data, Shape, Image, Seed];

    public IReadOnlyDictionary<string, long[]> Shapes(ParseResult parse) => ShapeOverrides.Parse(parse.GetValue(Shape) ?? []);

    public ImagePreprocessing Images(ParseResult parse) => CalibrationSection.ParseImageOptions(parse.GetValue(Image) ?? []);

    /// <summary>The first sample of the data, as <paramref name="model"/>'s feeds (null for random data: the benchmark makes its own).</summary>
    public Dictionary<string, Tensor>? FirstSample(ParseResult parse, string model)
    {
        string data = parse.GetValue(Data) ?? "random";
        if (data == "random") return null;
        using var read = Ir.Serialization.OnnxReader.Read(model);
        using var source = CalibrationDataSource.Open(data, read,
            new DataSourceOptions { Count = 1, BatchSize = 1, Shapes = Shapes(parse), Images = Images(parse), Seed = parse.GetValue(Seed) });
        return source.Batches().First().Feeds.ToDictionary(f => f.Key, f => f.Value, StringComparer.Ordinal);
    }
}
