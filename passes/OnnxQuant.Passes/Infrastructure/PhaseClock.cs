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

    /// <summary>The phase since the last lap (or creation) as "1.23 s / 2.34 s CPU", less the time <paramref name="minus"/>
    /// measured within it (a phase interleaved with another), and starts the next.</summary>
    public string Lap(Accumulator? minus = null)
    {
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        string text = Format(_wall.Elapsed - (minus?.Wall ?? TimeSpan.Zero), cpu - _cpu - (minus?.Cpu ?? TimeSpan.Zero));
        _wall.Restart();
        _cpu = cpu;
        return text;
    }

    private static string Format(TimeSpan wall, TimeSpan cpu) =>
        string.Create(CultureInfo.InvariantCulture, $"{wall.TotalSeconds:0.00} s / {cpu.TotalSeconds:0.00} s CPU");

    /// <summary>The total of a phase that runs in pieces (e.g. a search done after each calibration block).</summary>
    public sealed class Accumulator
    {
        public TimeSpan Wall { get; private set; }
        public TimeSpan Cpu { get; private set; }

        /// <summary>Measures until the result is disposed.</summary>
        public IDisposable Measure() => new Piece(this);

        public override string ToString() => Format(Wall, Cpu);

        private sealed class Piece(Accumulator owner) : IDisposable
        {
            private readonly Stopwatch _wall = Stopwatch.StartNew();
            private readonly TimeSpan _cpu = Process.GetCurrentProcess().TotalProcessorTime;

            public void Dispose()
            {
                owner.Wall += _wall.Elapsed;
                owner.Cpu += Process.GetCurrentProcess().TotalProcessorTime - _cpu;
            }
        }
    }
}
