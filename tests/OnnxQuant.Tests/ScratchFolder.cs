namespace OnnxQuant.Tests;

/// <summary>A fresh folder under the system temp folder, deleted with everything in it on dispose.</summary>
public sealed class ScratchFolder : IDisposable
{
    public ScratchFolder(string hint = "onnxquant", string? parent = null)
    {
        Path = System.IO.Path.Combine(parent ?? System.IO.Path.GetTempPath(), $"{hint}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Path);
    }

    /// <summary>
    /// A scratch folder in RAM (/dev/shm) when it has room for <paramref name="bytes"/> with a wide margin, else on disk:
    /// tests that write gigabytes then spare the shared disk and finish in seconds.
    /// </summary>
    public static ScratchFolder InMemoryIfRoom(long bytes, string hint = "onnxquant")
    {
        const string shm = "/dev/shm";
        try
        {
            if (Directory.Exists(shm) && new DriveInfo(shm).AvailableFreeSpace > 2 * bytes) return new ScratchFolder(hint, shm);
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return new ScratchFolder(hint);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    /// <summary>Names of the entries in the folder (files, links, subfolders), sorted.</summary>
    public string[] Entries() =>
        Directory.EnumerateFileSystemEntries(Path).Select(System.IO.Path.GetFileName).Order(StringComparer.Ordinal).ToArray()!;

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
