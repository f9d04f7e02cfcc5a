using System.IO.Compression;
using OnnxQuant.Ir;

namespace OnnxQuant.Runtime.DataSources;

/// <summary>
/// Samples from NumPy arrays, one per input, batch along axis 0: a single <c>.npy</c>, a <c>.npz</c> (keys = input
/// names; entries are extracted to a temporary folder, since compressed entries cannot be read at an offset), or a
/// folder of <c>NAME.npy</c>.
/// </summary>
internal sealed class ArraySamples : ISampleProvider
{
    private readonly Dictionary<string, NpyArray> _arrays;
    private readonly string? _tempDirectory;

    private ArraySamples(string description, Dictionary<string, NpyArray> arrays, string? tempDirectory)
    {
        Description = description;
        _arrays = arrays;
        _tempDirectory = tempDirectory;
        foreach (var a in arrays.Values)
            if (a.Shape.Count == 0)
                throw new OnnxQuantException($"{a.Path} holds a scalar; calibration arrays hold samples along axis 0.");
        var sizes = arrays.Values.Select(a => a.Rows).Distinct().ToList();
        if (sizes.Count > 1)
        {
            var (x, y) = (arrays.Values.MaxBy(a => a.Rows)!, arrays.Values.MinBy(a => a.Rows)!);
            throw new OnnxQuantException($"The arrays disagree on the number of samples: {x.Path} has {x.Rows}, {y.Path} has {y.Rows}.");
        }
        Count = arrays.Count == 0 ? 0 : checked((int)sizes[0]);
    }

    public string Description { get; }
    public int Count { get; }
    public IReadOnlyCollection<string> Names => _arrays.Keys;

    /// <summary>One array for the model's single input.</summary>
    public static ArraySamples FromNpy(string path, string inputName) =>
        new(path, new Dictionary<string, NpyArray>(StringComparer.Ordinal) { [inputName] = NpyArray.Open(path) }, null);

    /// <summary>Every <c>NAME.npy</c> of a folder whose NAME is one of <paramref name="inputNames"/>.</summary>
    public static ArraySamples FromFolder(string folder, IEnumerable<string> inputNames)
    {
        var arrays = new Dictionary<string, NpyArray>(StringComparer.Ordinal);
        try
        {
            foreach (string name in inputNames)
            {
                string path = Path.Combine(folder, name + ".npy");
                if (File.Exists(path)) arrays[name] = NpyArray.Open(path);
            }
            return new ArraySamples(folder, arrays, null);
        }
        catch
        {
            foreach (var a in arrays.Values) a.Dispose();
            throw;
        }
    }

    public static ArraySamples FromNpz(string path)
    {
        string temp = Directory.CreateTempSubdirectory("onnxquant-npz-").FullName;
        var arrays = new Dictionary<string, NpyArray>(StringComparer.Ordinal);
        try
        {
            using var zip = ZipFile.OpenRead(path);
            int i = 0;
            foreach (var entry in zip.Entries)
            {
                if (!entry.FullName.EndsWith(".npy", StringComparison.Ordinal)) continue;
                string key = entry.FullName[..^4];
                string file = Path.Combine(temp, $"{i++}.npy");
                entry.ExtractToFile(file);
                arrays[key] = NpyArray.Open(file);
            }
            return new ArraySamples(path, arrays, temp);
        }
        catch (Exception e) when (e is InvalidDataException or IOException)
        {
            Cleanup(arrays, temp);
            throw new OnnxQuantException($"Cannot read {path} as a .npz (zip of .npy files): {e.Message}", e);
        }
        catch
        {
            Cleanup(arrays, temp);
            throw;
        }
    }

    public SampleLayout Layout(string input)
    {
        var a = _arrays[input];
        string origin = _tempDirectory is null ? a.Path : $"{Description} (key '{input}')";
        return new SampleLayout(a.ElementType, a.RowDims, origin, $"'{a.Descr}', array [{string.Join(",", a.Shape)}]");
    }

    public void Read(string input, ReadOnlySpan<int> indices, Span<byte> destination)
    {
        var a = _arrays[input];
        int rowBytes = checked((int)a.RowBytes);
        // Runs of consecutive indices (the unshuffled case) are one read each.
        int i = 0;
        while (i < indices.Length)
        {
            int run = 1;
            while (i + run < indices.Length && indices[i + run] == indices[i] + run) run++;
            a.ReadRows(indices[i], run, destination.Slice(i * rowBytes, run * rowBytes));
            i += run;
        }
    }

    public void Dispose() => Cleanup(_arrays, _tempDirectory);

    private static void Cleanup(Dictionary<string, NpyArray> arrays, string? temp)
    {
        foreach (var a in arrays.Values) a.Dispose();
        if (temp is not null)
        {
            try { Directory.Delete(temp, recursive: true); } catch (IOException) { }
        }
    }
}
