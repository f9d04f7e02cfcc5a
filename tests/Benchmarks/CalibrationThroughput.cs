using System.Diagnostics;
using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Passes.Calibration;
using OnnxQuant.Runtime.DataSources;
using OnnxQuant.Passes.Calibration.Ranges;
using OnnxQuant.Runtime;
using OnnxQuant.Runtime.Calibration;

namespace OnnxQuant.Benchmarks;

/// <summary>
/// Times calibration (<see cref="CalibrationCollector.Collect"/>, as <c>onnxquant calibrate</c> runs it) against plain
/// inference (graph outputs only) over the same batches, each from session creation to the last batch, in one
/// process and back to back, so that both see the same machine load.
/// </summary>
public sealed class CalibrationThroughput
{
    private readonly string _model;
    private readonly string _data;
    private readonly int? _count;
    private readonly CalibrationScope _scope;
    private readonly bool? _overlap;

    public CalibrationThroughput(string model, string data, int batchSize, int? count, CalibrationScope scope, bool? overlap = null)
    {
        _overlap = overlap;
        _model = model;
        _data = data;
        _count = count;
        _scope = scope;
        BatchSize = batchSize;
        using var m = OnnxReader.Read(model);
        using var source = Open(m, count);
        Samples = source.Count;
    }

    public int BatchSize { get; }
    public int Samples { get; }

    /// <summary>
    /// One round: samples per second of plain inference, then of calibration with <paramref name="method"/>, in wall
    /// time and per CPU second of the process (steadier on a shared machine); a warm-up round (JIT, reading the data)
    /// runs a few batches only.
    /// </summary>
    public (double Plain, double Calibration, double PlainPerCpu, double CalibrationPerCpu) Round(CalibrationMethod method, bool warmUp = false)
    {
        using var model = OnnxReader.Read(_model);
        using var source = Open(model, warmUp ? Math.Min(8 * BatchSize, Samples) : _count);
        var clock = Stopwatch.StartNew();
        var cpu = Cpu();
        using (var runner = ModelRunner.FromModel(model))
        {
            var outputs = runner.OutputNames.ToList();
            foreach (var batch in source.Batches()) runner.Run(batch.Feeds, outputs, (_, _, _, _) => { });
        }
        double plain = source.Count / clock.Elapsed.TotalSeconds, plainCpu = source.Count / (Cpu() - cpu);
        var targets = CalibrationTargets.ActivationTargets(model, new RangeOptions { Method = method }.ObserverSpec(), _scope);
        clock.Restart();
        cpu = Cpu();
        var options = new CollectorOptions();
        CalibrationCollector.Collect(model, source, targets, _overlap is bool overlap ? options with { Overlap = overlap } : options);
        return (plain, source.Count / clock.Elapsed.TotalSeconds, plainCpu, source.Count / (Cpu() - cpu));
    }

    private static double Cpu() => Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds;

    private CalibrationDataSource Open(Model model, int? count = null) =>
        CalibrationDataSource.Open(_data, model, new DataSourceOptions { BatchSize = BatchSize, Count = count ?? _count });
}
