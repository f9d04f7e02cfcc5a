using System.Globalization;
using OnnxQuant.Runtime.Calibration;
using Spectre.Console;

namespace OnnxQuant.Cli;

/// <summary>
/// Shows calibration progress (<see cref="CalibrationProgress"/>, reported by the collector through
/// <see cref="CalibrationSettings.Progress"/>) as a progress bar while a pipeline runs, on a terminal only: in files,
/// pipes and CI logs a redrawn bar is noise, and the pass lines already say when calibration finished. Lines written
/// to the console meanwhile (one per pass) appear above the bar.
/// </summary>
internal static class CalibrationProgressView
{
    /// <summary>
    /// Runs <paramref name="work"/>, giving it the callback to feed; on a terminal the bar appears at the first report
    /// and stays, full, when the work ends.
    /// </summary>
    public static T Show<T>(IAnsiConsole console, Func<Action<CalibrationProgress>?, T> work)
    {
        if (!console.Profile.Capabilities.Interactive) return work(null);
        T result = default!;
        console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                ProgressTask? task = null;
                result = work(p =>
                {
                    task ??= ctx.AddTask("calibrating", maxValue: Math.Max(1, p.TotalSamples));
                    task.MaxValue = Math.Max(1, p.TotalSamples);
                    task.Value = p.TotalSamplesDone;
                    task.Description = Describe(p);
                });
            });
        return result;
    }

    /// <summary>"calibrating 120/256 samples, 45.2/s" (and "pass 2/3" when the tensors do not fit one pass).</summary>
    public static string Describe(CalibrationProgress p) => string.Create(CultureInfo.InvariantCulture,
        $"calibrating{(p.Passes > 1 ? $" (pass {p.Pass}/{p.Passes})" : "")} {p.TotalSamplesDone}/{p.TotalSamples} samples, {p.SamplesPerSecond:F1}/s");
}
