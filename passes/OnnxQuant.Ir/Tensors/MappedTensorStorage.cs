using System.Buffers;
using System.IO.MemoryMappedFiles;

namespace OnnxQuant.Ir;

/// <summary>
/// A region of an external data file, mapped into the address space. Nothing is read until a byte is touched, and
/// what is read lives in the OS page cache, not the managed heap: a model with gigabytes of weights loads in
/// constant managed memory.
/// </summary>
public sealed class MappedTensorStorage : TensorStorage
{
    private readonly MappedDataFile _file;
    private readonly long _offset;
    private readonly long _length;

    internal MappedTensorStorage(MappedDataFile file, long offset, long length)
    {
        _file = file;
        _offset = offset;
        _length = length;
    }

    public override long Length => _length;
    public override bool IsMapped => true;
    public string FilePath => _file.Path;

    public override ReadOnlyMemory<byte> Memory
    {
        get
        {
            if (_length > int.MaxValue)
                throw new InvalidOperationException(
                    $"Tensor data of {_length} bytes in '{_file.Path}' exceeds 2 GiB and cannot be viewed as one span; stream it with CopyTo.");
            if (_length == 0) return ReadOnlyMemory<byte>.Empty;
            return new UnmanagedRegion(_file, _offset, (int)_length).Memory;
        }
    }

    public override unsafe void CopyTo(Stream destination)
    {
        const int chunk = 1 << 20;
        byte* basePtr = _file.Pointer + _offset;
        for (long done = 0; done < _length; done += chunk)
        {
            int n = (int)Math.Min(chunk, _length - done);
            destination.Write(new ReadOnlySpan<byte>(basePtr + done, n));
        }
    }

    /// <summary>A <see cref="MemoryManager{T}"/> over mapped memory; keeps the mapping alive while the memory is referenced.</summary>
    private sealed unsafe class UnmanagedRegion(MappedDataFile file, long offset, int length) : MemoryManager<byte>
    {
        public override Span<byte> GetSpan() => new(file.Pointer + offset, length);
        public override MemoryHandle Pin(int elementIndex = 0) => new(file.Pointer + offset + elementIndex);
        public override void Unpin() { }
        protected override void Dispose(bool disposing) { }
    }
}

/// <summary>
/// One external data file mapped read-only, shared by every tensor stored in it. The mapping is released when the
/// last tensor referring to it is collected, or when the owning model is disposed.
/// </summary>
public sealed unsafe class MappedDataFile : IDisposable
{
    private readonly MemoryMappedFile? _map;
    private readonly MemoryMappedViewAccessor? _view;
    private byte* _pointer;

    public string Path { get; }
    public long Length { get; }

    public MappedDataFile(string path)
    {
        Path = path;
        Length = new FileInfo(path).Length;
        if (Length == 0) return;
        _map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        _view = _map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
        byte* p = null;
        _view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
        _pointer = p + _view.PointerOffset;
    }

    internal byte* Pointer => _pointer != null ? _pointer : throw new ObjectDisposedException(Path);

    // The pointer acquisition pins the view's handle; release it when the last tensor over this file is gone.
    ~MappedDataFile() => Dispose();

    /// <summary>Unmaps the file. Memory obtained from tensors over it before this call must no longer be used.</summary>
    public void Dispose()
    {
        GC.SuppressFinalize(this);
        if (_view is null || _pointer == null) return;
        _pointer = null;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _map!.Dispose();
    }
}
