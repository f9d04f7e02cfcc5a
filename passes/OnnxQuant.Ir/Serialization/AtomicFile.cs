namespace OnnxQuant.Ir.Serialization;

/// <summary>
/// Writes files so that a failed run leaves nothing behind: every output goes to a temporary file in the target's
/// folder, and only when all are complete are they renamed into place (a rename within a folder is atomic).
/// </summary>
public sealed class AtomicFile : IDisposable
{
    private readonly List<(string Temp, string Final)> _files = [];
    private bool _committed;

    /// <summary>Creates a temporary file that will become <paramref name="finalPath"/> on <see cref="Commit"/>.</summary>
    public FileStream Create(string finalPath)
    {
        string full = Path.GetFullPath(finalPath);
        string dir = Path.GetDirectoryName(full)!;
        if (!Directory.Exists(dir))
            throw new OnnxQuantException($"Cannot write {finalPath}: the folder {dir} does not exist. Create it first.");
        string temp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        _files.Add((temp, full));
        return new FileStream(temp, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 20);
    }

    /// <summary>
    /// Moves every temporary file into place, in the order they were created (create the model file last). If a move
    /// fails, the files already moved are deleted again, so a data file never stays behind without its model.
    /// </summary>
    public void Commit()
    {
        var moved = new List<string>();
        try
        {
            foreach (var (temp, final) in _files)
            {
                File.Move(temp, final, overwrite: true);
                moved.Add(final);
            }
        }
        catch
        {
            foreach (string final in moved)
            {
                try { File.Delete(final); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            }
            throw;
        }
        _committed = true;
    }

    public void Dispose()
    {
        if (_committed) return;
        foreach (var (temp, _) in _files)
        {
            try { File.Delete(temp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }
}
