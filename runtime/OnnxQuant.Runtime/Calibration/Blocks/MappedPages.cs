using System.Runtime.InteropServices;

namespace OnnxQuant.Runtime.Calibration.Blocks;

/// <summary>
/// Drops the pages of a read-only file mapping from this process's resident set (Linux <c>madvise(MADV_DONTNEED)</c>):
/// the data stays in the OS page cache and is read again on the next touch, but the process no longer holds it, so a
/// pass over many gigabytes of mapped weights keeps the resident size of one block.
/// </summary>
internal static partial class MappedPages
{
    private const int MadvDontNeed = 4;

    [LibraryImport("libc", EntryPoint = "madvise", SetLastError = true)]
    private static partial int Madvise(IntPtr address, UIntPtr length, int advice);

    /// <summary>Releases the whole pages inside [pointer, pointer + length); the partial pages at the ends stay.</summary>
    public static void Release(IntPtr pointer, long length)
    {
        long page = Environment.SystemPageSize;
        long start = (pointer.ToInt64() + page - 1) / page * page;
        long end = (pointer.ToInt64() + length) / page * page;
        if (end > start) _ = Madvise(new IntPtr(start), new UIntPtr((ulong)(end - start)), MadvDontNeed);
    }
}
