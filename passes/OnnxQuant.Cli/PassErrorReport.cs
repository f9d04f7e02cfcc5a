using OnnxQuant.Passes;

namespace OnnxQuant.Cli;

/// <summary>
/// Prints a <see cref="PassFailedException"/> for users: the pass's message, the pass and the recipe step it ran as
/// (a built-in recipe by its name and line, never by the path it was installed to, which for a build is deep in
/// <c>bin/Debug/…</c>), and for a bug the passes before it; the stack trace only with <c>--verbose</c>.
/// </summary>
internal static class PassErrorReport
{
    public static int Write(PassFailedException e, string presetDirectory, bool verbose, TextWriter errors)
    {
        string where = $"pass '{e.PassName}'{Step(e.Location, presetDirectory)}";
        var inner = e.InnerException!;
        if (e.IsUserError)
        {
            errors.WriteLine($"error: {inner.Message} (in {where}.) Nothing was written.");
            if (verbose) errors.WriteLine(inner.ToString());
            return ExitCodes.UserError;
        }
        string history = e.PassesBefore.Count == 0 ? "It was the first pass." : $"Passes run before it: {string.Join(", ", e.PassesBefore)}.";
        errors.WriteLine(e.VerificationFailed
            ? $"error: the model is invalid after {where}: {inner.Message}"
            : $"error: internal error in {where}: {inner.GetType().Name}: {inner.Message}");
        errors.WriteLine($"{history} This is a bug in OnnxQuant; please report it with the model and the recipe. Nothing was written.");
        errors.WriteLine(verbose ? inner.ToString() : "Rerun with --verbose for the stack trace.");
        return ExitCodes.InternalError;
    }

    /// <summary>", recipe step at line 16 of built-in recipe w8a8.yaml" or ", recipe step at my.yaml:3:5".</summary>
    public static string Step(SourceLocation? location, string presetDirectory)
    {
        if (location is null) return "";
        string file = Path.GetFullPath(location.File);
        string presets = Path.GetFullPath(presetDirectory) + Path.DirectorySeparatorChar;
        if (file.StartsWith(presets, StringComparison.Ordinal))
            return $", recipe step at line {location.Line} of built-in recipe {Path.GetFileName(file)}";
        string relative = Path.GetRelativePath(Environment.CurrentDirectory, file);
        string shown = relative.StartsWith("..", StringComparison.Ordinal) ? file : relative;
        return $", recipe step at {shown}:{location.Line}:{location.Column}";
    }
}
