using System.Runtime.InteropServices;
using OnnxQuant.Onnx.Proto;

namespace OnnxQuant.Ir.Serialization;

/// <summary>
/// Resolves ONNX external data (<c>location</c>, <c>offset</c>, <c>length</c>) to mapped regions of files beside the
/// model. A location may never leave the model's folder: absolute paths, <c>..</c> segments and symbolic links that
/// point outside are refused, as are regions that do not lie inside the file. Each file is mapped once and shared.
/// </summary>
internal sealed partial class ExternalDataResolver(string? baseDirectory, string modelPath, Model owner)
{
    private readonly Dictionary<string, MappedDataFile> _files = new(StringComparer.Ordinal);
    private string? _realBase;

    public TensorStorage Resolve(TensorProto tensor, string what, long expectedLength)
    {
        string? location = null;
        long offset = 0;
        long? length = null;
        foreach (var e in tensor.ExternalData)
        {
            switch (e.Key)
            {
                case "location": location = e.Value; break;
                case "offset": offset = ParseLong(e.Value, "offset", what); break;
                case "length": length = ParseLong(e.Value, "length", what); break;
            }
        }
        if (string.IsNullOrEmpty(location))
            throw Error($"{what} is marked as external data but has no 'location'.", "Re-export the model with its external data.");
        if (baseDirectory is null)
            throw Error($"{what} keeps its data in external file '{location}', but the model was not read from a file.",
                "Read the model from its path so that external data can be found beside it.");
        if (location.Contains('\0'))
            throw Error($"{what} points to external data at '{location.Replace("\0", "\\0")}', which contains a NUL character.",
                "External data must be a relative file name inside the model's folder; fix 'location'.");
        if (Path.IsPathRooted(location) || location.StartsWith('\\') || (location.Length > 1 && location[1] == ':'))
            throw Error($"{what} points to external data at the absolute path '{location}'.",
                "External data must be a relative path inside the model's folder; move the file there and fix 'location'.");
        if (location.Split('/', '\\').Any(segment => segment == ".."))
            throw Error($"{what} points to external data '{location}', which climbs out of the model's folder with '..'.",
                "External data must be a relative path inside the model's folder.");

        string full = Path.GetFullPath(Path.Combine(baseDirectory, location));
        if (!File.Exists(full))
            throw Error($"{what} keeps its data in '{location}', but {full} does not exist.",
                "Copy the external data file next to the model.");
        string realBase = _realBase ??= RealPath(baseDirectory);
        string realFile = RealPath(full);
        if (!realFile.StartsWith(realBase.EndsWith('/') ? realBase : realBase + "/", StringComparison.Ordinal))
            throw Error($"{what} keeps its data in '{location}', which is a symbolic link to {realFile}, outside the model's folder {realBase}.",
                "Replace the link with the file itself.");

        if (!_files.TryGetValue(realFile, out var file))
        {
            file = new MappedDataFile(realFile);
            _files[realFile] = file;
            owner.MappedFiles.Add(file);
        }
        if (length is long l && l != expectedLength)
            throw Error($"{what} declares length {l} for its external data, but its type and shape need {expectedLength} bytes.",
                "The model and its data file do not match; re-export them together.");
        if (offset < 0 || offset > file.Length || expectedLength > file.Length - offset)
            throw Error($"{what} reads bytes {offset}..{offset + expectedLength} of '{location}', which has only {file.Length} bytes.",
                "The data file is truncated or belongs to another model; re-export them together.");
        return new MappedTensorStorage(file, offset, expectedLength);
    }

    private OnnxFormatException Error(string what, string fix) => new($"{modelPath}: {what} {fix}");

    private long ParseLong(string text, string key, string what) =>
        long.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long v)
            ? v
            : throw Error($"{what} has external data {key} '{text}', which is not a non-negative integer.", "Fix the model's external data entries.");

    /// <summary>The canonical path with every symbolic link resolved (libc realpath), so links cannot smuggle a path out.</summary>
    private static string RealPath(string path)
    {
        IntPtr p = RealPathNative(path, IntPtr.Zero);
        if (p == IntPtr.Zero) return Path.GetFullPath(path);
        try { return Marshal.PtrToStringUTF8(p)!; }
        finally { Marshal.FreeHGlobal(p); }
    }

    [LibraryImport("libc", EntryPoint = "realpath", StringMarshalling = StringMarshalling.Utf8)]
    private static partial IntPtr RealPathNative(string path, IntPtr resolved);
}
