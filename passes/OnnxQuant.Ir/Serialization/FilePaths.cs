using System.Runtime.InteropServices;

namespace OnnxQuant.Ir.Serialization;

/// <summary>
/// Canonical file paths, so that two spellings of one file (relative and absolute, through a symbolic link, with
/// <c>./</c> or <c>..</c>) compare equal. Used to refuse outputs that would replace an input.
/// </summary>
public static partial class FilePaths
{
    /// <summary>
    /// The path with every symbolic link resolved. A file that does not exist yet is resolved through its folder (the
    /// folder's links are resolved; the name is kept), which is where a write would land.
    /// </summary>
    public static string Canonical(string path)
    {
        string full = Path.GetFullPath(path);
        if (RealPath(full) is { } real) return real;
        // Missing (or a dangling link): canonicalise the folder, keep the name.
        string? dir = Path.GetDirectoryName(full);
        if (dir is null) return full;
        return Path.Combine(Canonical(dir), Path.GetFileName(full));
    }

    public static bool Same(string a, string b) =>
        string.Equals(Canonical(a), Canonical(b), OperatingSystem.IsLinux() ? StringComparison.Ordinal : StringComparison.OrdinalIgnoreCase);

    private static string? RealPath(string path)
    {
        if (OperatingSystem.IsWindows())
            return File.Exists(path) || Directory.Exists(path) ? Path.GetFullPath(path) : null;
        IntPtr p = RealPathNative(path, IntPtr.Zero);
        if (p == IntPtr.Zero) return null;
        try { return Marshal.PtrToStringUTF8(p); }
        finally { Marshal.FreeHGlobal(p); }
    }

    [LibraryImport("libc", EntryPoint = "realpath", StringMarshalling = StringMarshalling.Utf8)]
    private static partial IntPtr RealPathNative(string path, IntPtr resolved);
}
