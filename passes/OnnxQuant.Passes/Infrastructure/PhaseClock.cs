using System.Diagnostics;
using System.Globalization;

namespace OnnxQuant.Passes;

/// <summary>
/// Wall clock and process CPU time of consecutive phases of a pass, for its <c>-v</c> log (where the time goes is the
/// first question about a slow pass; CPU time says it even on a loaded machine, where the wall clock does not).
/// </summary>
public sealed class PhaseClock
{
    private readonly Stopwatch _wall = Stopwatch.StartNew();
    private TimeSpan _cpu = Process.GetCurrentProcess().TotalProcessorTime;

    /// <summary>The phase since the last lap (or creation) as "1.23 s / 2.34 s CPU", and starts the next.</summary>
    public string Lap()
    {
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        string text = string.Create(CultureInfo.InvariantCulture, $"{_wall.Elapsed.TotalSeconds:0.00} s / {(cpu - _cpu).TotalSeconds:0.00} s CPU");
        _wall.Restart();
        _cpu = cpu;
        return text;
    }
}
