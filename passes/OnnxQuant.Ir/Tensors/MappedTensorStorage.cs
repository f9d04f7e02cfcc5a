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

    /// <summary>Streams the bytes in 1 MiB chunks, releasing each chunk's pages once written (see <see cref="ReleasePages"/>).</summary>
    public override unsafe void CopyTo(Stream destination)
    {
        const int chunk = 1 << 20;
        byte* basePtr = _file.Pointer + _offset;
        for (long done = 0; done < _length; done += chunk)
        {
            int n = (int)Math.Min(chunk, _length - done);
            destination.Write(new ReadOnlySpan<byte>(basePtr + done, n));
            _file.ReleasePages(_offset + done, n);
        }
    }

    public override void ReleasePages() => _file.ReleasePages(_offset, _length);

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

    /// <summary>
    /// madvise(MADV_DONTNEED) over the pages holding bytes offset .. offset + length: the mapping is read-only and
    /// backed by the file, so this only unmaps the pages from this process (its resident set shrinks) and the next
    /// touch reads them again from the page cache or disk. Pages shared with a neighbouring tensor are dropped too,
    /// which costs at most a re-read. A no-op off Linux or when the call fails.
    /// </summary>
    internal void ReleasePages(long offset, long length)
    {
        if (_pointer == null || length <= 0 || !OperatingSystem.IsLinux()) return;
        long page = Environment.SystemPageSize;
        // The view starts at file offset 0, so the pointer is page aligned and file offsets align like addresses.
        long start = offset / page * page;
        long end = Math.Min((offset + length + page - 1) / page * page, (Length + page - 1) / page * page);
        if (end > start) _ = PageAdvice.DontNeed(_pointer + start, (nuint)(end - start));
    }

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
