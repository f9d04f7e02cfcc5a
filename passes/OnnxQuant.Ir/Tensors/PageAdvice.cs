using System.Runtime.InteropServices;

namespace OnnxQuant.Ir;

/// <summary>libc's madvise, for dropping mapped pages a pass is done with (<see cref="TensorStorage.ReleasePages"/>).</summary>
internal static unsafe partial class PageAdvice
{
    private const int MadvDontNeed = 4;

    /// <summary>madvise(address, length, MADV_DONTNEED); the address must be page aligned. Returns 0 on success.</summary>
    public static int DontNeed(byte* address, nuint length) => Madvise(address, length, MadvDontNeed);

    [LibraryImport("libc", EntryPoint = "madvise")]
    private static partial int Madvise(byte* address, nuint length, int advice);
}
