namespace OnnxQuant.Ir.Serialization;

/// <summary>
/// Checks where a result will be written before any work starts, so that a typo in the output path fails in a
/// second rather than after minutes of calibration: the file is not an input, is not a folder, and its folder exists
/// and accepts new files (a probe file is created and deleted there, which also catches read-only file systems and
/// access control that permission bits do not show).
/// </summary>
public static class OutputPath
{
    /// <param name="output">The path as the user gave it (used in messages).</param>
    /// <param name="what">How the user named it: <c>OUT</c>, <c>--save-calib</c>.</param>
    /// <param name="inputs">Files that must not be overwritten (the model being read).</param>
    public static void Check(string output, string what, params string[] inputs)
    {
        string full = Path.GetFullPath(output);
        foreach (string input in inputs)
            if (FilePaths.Same(input, full))
                throw new OnnxQuantException(
                    $"{what} is the same file as the input ({output}). Write to another file: the input is read while the output is written.");
        if (Directory.Exists(full))
            throw new OnnxQuantException($"{what} ({output}) is a folder; give a file name, e.g. {Path.Combine(output, "model.onnx")}.");
        string folder = Path.GetDirectoryName(full) ?? full;
        if (!Directory.Exists(folder))
            throw new OnnxQuantException($"{what} ({output}): the folder {folder} does not exist. Create it first (mkdir -p {folder}) or write elsewhere.");
        string probe = Path.Combine(folder, $".{Path.GetFileName(full)}.{Environment.ProcessId}.probe");
        try
        {
            using (new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose)) { }
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            throw new OnnxQuantException($"{what} ({output}): cannot create files in {folder} ({e.Message}). Check its permissions, or write elsewhere.", e);
        }
    }
}
