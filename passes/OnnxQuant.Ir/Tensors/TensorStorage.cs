namespace OnnxQuant.Ir;

/// <summary>
/// Where a tensor's bytes live. Storage is immutable: a pass that changes a weight makes a new tensor, so a weight
/// shared by two nodes can never be changed behind one of them. Bytes are in ONNX's packed <c>raw_data</c> layout
/// (little-endian; sub-byte types packed low bits first).
/// </summary>
public abstract class TensorStorage
{
    public abstract long Length { get; }

    /// <summary>The bytes; for storage over 2 GiB use <see cref="CopyTo"/> (a span cannot hold them).</summary>
    public abstract ReadOnlyMemory<byte> Memory { get; }

    /// <summary>Streams the bytes in chunks, so even multi-GB mapped tensors never pass through managed memory whole.</summary>
    public virtual void CopyTo(Stream destination) => destination.Write(Memory.Span);

    /// <summary>True when the bytes are in a file mapped into memory (read on demand, page by page).</summary>
    public virtual bool IsMapped => false;

    /// <summary>
    /// A hint that the bytes will not be needed again soon: mapped storage drops this process's resident copy of its
    /// pages (they stay in the OS page cache and are read again on the next touch), so a pass that walks a model larger
    /// than memory one weight at a time keeps about one weight resident. Storage in memory ignores it.
    /// </summary>
    public virtual void ReleasePages() { }
}

/// <summary>Bytes held in managed memory (a small tensor, or <c>raw_data</c> parsed from the protobuf, without a copy).</summary>
public sealed class MemoryTensorStorage(ReadOnlyMemory<byte> bytes) : TensorStorage
{
    public override long Length => bytes.Length;
    public override ReadOnlyMemory<byte> Memory => bytes;
}
