using OnnxQuant.Ir;
using OnnxQuant.Passes;
using OnnxQuant.Passes.Recipes;

namespace OnnxQuant.Cli;

/// <summary>
/// Turns an exception that escaped a command into one message on stderr and an exit code. User errors
/// (<see cref="OnnxQuantException"/>) already say what, where and how to fix, so they are printed alone; anything
/// else is a bug, reported as such. Stack traces only with <c>--verbose</c>: users need the message, we need the trace.
/// </summary>
public static class CliErrors
{
    public static int Report(Exception exception, TextWriter stderr, bool verbose)
    {
        // A pass that failed in a command other than quantize (calibrate runs a recipe's passes first).
        if (exception is PassFailedException pass) return PassErrorReport.Write(pass, RecipePresets.DefaultDirectory, verbose, stderr);
        if (exception is OnnxQuantException user)
        {
            stderr.WriteLine($"error: {user.Message}");
            if (verbose) stderr.WriteLine(user.ToString());
            return ExitCodes.UserError;
        }
        stderr.WriteLine($"internal error: {exception.GetType().Name}: {exception.Message}");
        stderr.WriteLine(verbose
            ? exception.ToString()
            : "This is a bug in onnxquant. Rerun with --verbose for the stack trace and include it in the report.");
        return ExitCodes.InternalError;
    }

    /// <summary>
    /// Wraps a failure of the file system (disk full, permission denied, a path that is a folder) while writing
    /// <paramref name="path"/> as a user error: it is about the user's environment, not our code.
    /// </summary>
    public static OnnxQuantException WriteFailed(string path, Exception e) =>
        new($"cannot write {path}: {e.Message} Nothing was written; check the path, free space and permissions.", e);
}
