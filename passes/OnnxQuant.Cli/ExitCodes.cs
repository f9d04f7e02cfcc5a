namespace OnnxQuant.Cli;

/// <summary>
/// Exit codes of <c>onnxquant</c>. Scripts rely on them: 1 means "you called it wrong", 2 "your input is wrong", 3 "a quality gate failed",
/// 70 "we have a bug" (sysexits.h EX_SOFTWARE).
/// </summary>
public static class ExitCodes
{
    public const int Success = 0;

    /// <summary>No arguments, unknown command or option, missing argument, a value that does not parse (<see cref="UsageErrors"/>).</summary>
    public const int Usage = 1;

    /// <summary>An <see cref="Ir.OnnxQuantException"/>: a bad model, path, recipe or option value.</summary>
    public const int UserError = 2;

    /// <summary>A quality gate failed (<c>eval --min-top1</c> / <c>--max-drop</c>): the command worked, the model did not pass.</summary>
    public const int GateFailed = 3;

    /// <summary>Any other exception: a bug in onnxquant.</summary>
    public const int InternalError = 70;

    /// <summary>Interrupted by the user (128 + SIGINT, as shells report it).</summary>
    public const int Cancelled = 130;
}
