using OnnxQuant.Ir;

namespace OnnxQuant.Runtime.DataSources;

/// <summary>
/// A folder of images (sorted by file name) feeding one input; each sample is decoded and preprocessed when read.
/// Batches need every image at one size; one image at a time (<see cref="IVariableSizeSamples"/>) may have its own.
/// </summary>
internal sealed class ImageSamples : ISampleProvider, IVariableSizeSamples
{
    private readonly string[] _files;
    private readonly ImagePreprocessing _options;
    private readonly string _input;
    private readonly SampleLayout _layout;

    public ImageSamples(string folder, string input, ImagePreprocessing options)
    {
        _files = Directory.EnumerateFiles(folder).Where(ImagePipeline.IsImage).OrderBy(f => Path.GetFileName(f), StringComparer.Ordinal).ToArray();
        if (_files.Length == 0) throw new OnnxQuantException($"{folder} holds no images (JPEG, PNG, BMP, GIF, TGA).");
        _options = options;
        _input = input;
        Description = folder;
        // The first image fixes the sample shape; every other must match it.
        var (_, dims) = ImagePipeline.Load(_files[0], options);
        _layout = new SampleLayout(options.ElementType, dims, $"images in {folder} (first: {Path.GetFileName(_files[0])})", "preprocessed image");
    }

    public string Description { get; }
    public int Count => _files.Length;
    public IReadOnlyCollection<string> Names => [_input];

    public SampleLayout Layout(string input) => _layout;

    public void Read(string input, ReadOnlySpan<int> indices, Span<byte> destination)
    {
        int size = checked((int)_layout.SampleBytes);
        for (int i = 0; i < indices.Length; i++)
        {
            string file = _files[indices[i]];
            var (bytes, dims) = ImagePipeline.Load(file, _options);
            if (!dims.AsSpan().SequenceEqual(_layout.SampleDims))
                throw new OnnxQuantException(
                    $"Image {file} preprocesses to [{string.Join(",", dims)}], but {Path.GetFileName(_files[0])} gave [{string.Join(",", _layout.SampleDims)}]; "
                    + "declare a resize and centre crop so that every image has the model's size (at batch size 1, a model whose height and width are free takes each image at its own size).");
            bytes.CopyTo(destination.Slice(i * size, size));
        }
    }

    public (byte[] Bytes, long[] Dims, string Origin) ReadOne(string input, int index)
    {
        string file = _files[index];
        var (bytes, dims) = ImagePipeline.Load(file, _options);
        return (bytes, dims, $"image {Path.GetFileName(file)}");
    }

    public void Dispose() { }
}
