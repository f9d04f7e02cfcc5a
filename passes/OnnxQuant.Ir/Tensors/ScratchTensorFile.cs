using Microsoft.Win32.SafeHandles;

namespace OnnxQuant.Ir;

/// <summary>
/// A temporary file that holds tensors a pass made while it streams a large model (quantized weights, their scales),
/// so that they wait for the writer on disk rather than in memory: a pass that rewrites a model larger than memory one
/// layer at a time keeps about one layer resident. The file is unlinked as soon as it is opened, so it never outlives
/// the process, even one that is killed; it is closed when the owning <see cref="Model"/> is disposed. Tensors over it
/// are read back on demand (<see cref="ScratchTensorStorage"/>), byte for byte what was put in.
/// </summary>
public sealed class ScratchTensorFile : IDisposable
{
    private readonly SafeFileHandle _handle;
    private readonly FileStream _stream;
    private long _length;

    /// <summary>Where scratch files go: $TMPDIR (else /tmp); set ONNXQUANT_SCRATCH_DIR to put them elsewhere.</summary>
    public static string Folder => Environment.GetEnvironmentVariable("ONNXQUANT_SCRATCH_DIR") is { Length: > 0 } dir ? dir : Path.GetTempPath();

    /// <summary>Total bytes placed so far (tests and statistics).</summary>
    public long Length => _length;

    public ScratchTensorFile()
    {
        string folder = Folder;
        if (!Directory.Exists(folder))
            throw new OnnxQuantException($"The scratch folder {folder} does not exist. Create it, or point ONNXQUANT_SCRATCH_DIR (or TMPDIR) at a folder with room for the quantized weights.");
        string path = Path.Combine(folder, $".onnxquant-scratch.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        _handle = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None);
        // Unlinked while open (Linux keeps the data until the handle closes): nothing is left behind on any exit.
        File.Delete(path);
        _stream = new FileStream(_handle, FileAccess.ReadWrite, 1 << 20);
    }

    /// <summary>The same tensor (type, shape, annotations, bytes) with its bytes moved to this file.</summary>
    public Tensor Place(Tensor tensor)
    {
        if (tensor.Storage is not { } storage || tensor.SparseForm is not null) return tensor;
        long offset = _length;
        _stream.Position = offset;
        storage.CopyTo(_stream);
        _stream.Flush();
        _length += storage.Length;
        var placed = new Tensor(tensor.ElementType, tensor.Dims.ToArray(), new ScratchTensorStorage(this, offset, storage.Length));
        return tensor.DocString is null && tensor.Metadata.Count == 0 ? placed : placed.WithAnnotations(tensor.DocString, tensor.Metadata);
    }

    internal void Read(long offset, Span<byte> destination)
    {
        ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
        int read = 0;
        while (read < destination.Length)
        {
            int n = RandomAccess.Read(_handle, destination[read..], offset + read);
            if (n <= 0) throw new IOException($"The scratch file ended at byte {offset + read}; it holds {_length} bytes.");
            read += n;
        }
    }

    public void Dispose()
    {
        _stream.Dispose();
        _handle.Dispose();
    }
}

/// <summary>Bytes in a <see cref="ScratchTensorFile"/>: read from disk on every access, never cached in memory.</summary>
public sealed class ScratchTensorStorage : TensorStorage
{
    private readonly ScratchTensorFile _file;
    private readonly long _offset;
    private readonly long _length;

    internal ScratchTensorStorage(ScratchTensorFile file, long offset, long length)
    {
        _file = file;
        _offset = offset;
        _length = length;
    }

    public override long Length => _length;

    /// <summary>A fresh copy of the bytes (the storage keeps none).</summary>
    public override ReadOnlyMemory<byte> Memory
    {
        get
        {
            if (_length > int.MaxValue)
                throw new InvalidOperationException($"Scratch tensor data of {_length} bytes exceeds 2 GiB and cannot be viewed as one span; stream it with CopyTo.");
            var bytes = new byte[_length];
            _file.Read(_offset, bytes);
            return bytes;
        }
    }

    public override void CopyTo(Stream destination)
    {
        var buffer = new byte[(int)Math.Min(_length, 1 << 20)];
        for (long done = 0; done < _length; done += buffer.Length)
        {
            var chunk = buffer.AsSpan(0, (int)Math.Min(buffer.Length, _length - done));
            _file.Read(_offset + done, chunk);
            destination.Write(chunk);
        }
    }
}
