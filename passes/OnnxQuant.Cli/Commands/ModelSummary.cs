using System.Globalization;

namespace OnnxQuant.Cli.Commands;

/// <summary>How the quantize summary prints sizes and times (the figures are <see cref="ModelStatistics"/>).</summary>
internal static class ModelSummary
{
    public static string FormatBytes(long bytes) => bytes switch
    {
        < 1_000 => $"{bytes} B",
        < 1_000_000 => (bytes / 1e3).ToString("0.0", CultureInfo.InvariantCulture) + " kB",
        < 1_000_000_000 => (bytes / 1e6).ToString("0.0", CultureInfo.InvariantCulture) + " MB",
        _ => (bytes / 1e9).ToString("0.00", CultureInfo.InvariantCulture) + " GB",
    };

    public static string FormatTime(TimeSpan time) =>
        time.TotalSeconds >= 10
            ? time.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture) + " s"
            : time.TotalMilliseconds.ToString("0.0", CultureInfo.InvariantCulture) + " ms";
}
