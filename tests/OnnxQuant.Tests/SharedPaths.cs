namespace OnnxQuant.Tests;

/// <summary>Locations of the repository and of ../shared (real models and data, never copied into the repo).</summary>
public static class SharedPaths
{
    public static string RepoRoot { get; } = FindRepoRoot();

    public static string Shared => Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared"));
    public static string Models => Path.Combine(Shared, "models");
    public static string Data => Path.Combine(Shared, "data");

    public static string Model(string fileName) => Path.Combine(Models, fileName);

    /// <summary>Every .onnx model in ../shared/models.</summary>
    public static IEnumerable<string> AllModels() =>
        Directory.EnumerateFiles(Models, "*.onnx").OrderBy(p => p, StringComparer.Ordinal);

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "OnnxQuant.sln"))) return dir.FullName;
        throw new InvalidOperationException("Cannot find OnnxQuant.sln above the test binaries.");
    }
}
