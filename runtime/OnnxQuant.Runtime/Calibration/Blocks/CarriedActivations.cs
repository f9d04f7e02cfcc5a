using OnnxQuant.Ir;

namespace OnnxQuant.Runtime.Calibration.Blocks;

/// <summary>
/// The values that cross the current cut of a block-wise calibration, for every batch of the calibration data: what
/// the next block reads. Held in memory while they fit in <c>spillBytes</c>; beyond that every batch's values go to a
/// file of their own in a temporary folder (deleted on dispose) and are read back when the batch's turn comes, so
/// memory holds one batch's activations however many samples calibrate.
/// </summary>
internal sealed class CarriedActivations : IDisposable
{
    private readonly long _spillBytes;
    private readonly List<Dictionary<string, Tensor>?> _inMemory = [];
    private long _bytes;
    private string? _folder;

    public CarriedActivations(long spillBytes) => _spillBytes = spillBytes;

    public int Batches => _inMemory.Count;

    /// <summary>True once the values went to disk.</summary>
    public bool Spilled => _folder is not null;

    /// <summary>Replaces batch <paramref name="batch"/>'s values (batches are stored in order, 0, 1, …).</summary>
    public void Store(int batch, Dictionary<string, Tensor> values)
    {
        if (batch > _inMemory.Count) throw new InvalidOperationException("Batches are stored in order.");
        if (batch == _inMemory.Count) _inMemory.Add(null);
        else if (_inMemory[batch] is { } old) _bytes -= Bytes(old);
        long bytes = Bytes(values);
        if (_folder is null && _bytes + bytes > _spillBytes)
        {
            _folder = Directory.CreateTempSubdirectory("onnxquant-blocks-").FullName;
            for (int b = 0; b < _inMemory.Count; b++)
                if (_inMemory[b] is { } held)
                {
                    Write(b, held);
                    _inMemory[b] = null;
                }
            _bytes = 0;
        }
        if (_folder is not null) Write(batch, values);
        else
        {
            _inMemory[batch] = values;
            _bytes += bytes;
        }
    }

    public Dictionary<string, Tensor> Load(int batch) => _folder is null ? _inMemory[batch]! : Read(batch);

    private static long Bytes(Dictionary<string, Tensor> values) => values.Values.Sum(t => t.ByteLength);

    private string FileOf(int batch) => Path.Combine(_folder!, $"batch{batch}.bin");

    private void Write(int batch, Dictionary<string, Tensor> values)
    {
        using var stream = new FileStream(FileOf(batch), FileMode.Create, FileAccess.Write);
        using var writer = new BinaryWriter(stream);
        writer.Write(values.Count);
        foreach (var (name, tensor) in values)
        {
            writer.Write(name);
            writer.Write((int)tensor.ElementType);
            writer.Write(tensor.Rank);
            foreach (long d in tensor.Dims) writer.Write(d);
            writer.Write(tensor.ByteLength);
            writer.Write(tensor.RawData.Span);
        }
    }

    private Dictionary<string, Tensor> Read(int batch)
    {
        using var stream = new FileStream(FileOf(batch), FileMode.Open, FileAccess.Read);
        using var reader = new BinaryReader(stream);
        int count = reader.ReadInt32();
        var values = new Dictionary<string, Tensor>(count, StringComparer.Ordinal);
        for (int i = 0; i < count; i++)
        {
            string name = reader.ReadString();
            var type = (DataType)reader.ReadInt32();
            var dims = new long[reader.ReadInt32()];
            for (int d = 0; d < dims.Length; d++) dims[d] = reader.ReadInt64();
            var bytes = new byte[reader.ReadInt64()];
            stream.ReadExactly(bytes);
            values[name] = Tensor.FromRaw(type, dims, bytes);
        }
        return values;
    }

    public void Dispose()
    {
        if (_folder is null) return;
        try { Directory.Delete(_folder, recursive: true); } catch (IOException) { }
        _folder = null;
    }
}
