using OnnxQuant.Ir;
using OnnxQuant.Passes.LinearLayers;
using OnnxQuant.Runtime.Calibration.Statistics;
using OnnxQuant.Runtime.DataSources;

namespace OnnxQuant.Passes.Calibration.Ranges.Consumer;

/// <summary>
/// <c>calibrate: {range: consumer-mse}</c> over a whole model: for every tensor given a range, its linear readers
/// (MatMul/Gemm/Conv with a constant weight, the tensor as data input) are sampled once
/// (<see cref="ConsumerSampler"/>) and <see cref="ConsumerRangeChooser"/> picks its range. Activations are judged as
/// insert-qdq quantizes them by default (uint8 asymmetric per tensor, int8 symmetric per-channel weights).
/// </summary>
public static class ConsumerRanges
{
    /// <summary>The activation type the choice is judged for: insert-qdq's default.</summary>
    public static readonly QuantTarget Target = new(DataType.UInt8, symmetric: false);

    /// <param name="sampleReaders">False: no reader is sampled (the model calibrates block-wise), so every tensor is judged by its own histogram error.</param>
    public static List<RangeDecision> Choose(Model model, CalibrationStatistics statistics, IReadOnlyList<Value> tensors, CalibrateOptions options,
        Func<CalibrationDataSource> openData, PassContext context, bool sampleReaders = true)
    {
        var readers = new Dictionary<Value, List<LinearLayer>>();
        var all = new List<LinearLayer>();
        foreach (var x in tensors)
        {
            var list = new List<LinearLayer>();
            foreach (var use in x.Uses.Where(_ => sampleReaders))
            {
                if (LinearLayer.TryRead(use.Node, out var layer) is not null || layer is null) continue;
                if (ConsumerSampler.Refusal(layer, x) is { } why)
                {
                    context.RecordMiss("consumer-mse", why);
                    continue;
                }
                if (list.Any(l => l.Node == use.Node)) continue;
                list.Add(layer);
                all.Add(layer);
            }
            readers[x] = list;
        }
        Dictionary<Node, List<float[]>> rows;
        if (all.Count == 0) rows = [];
        else
        {
            using var source = openData();
            rows = ConsumerSampler.Sample(model, all, options.RangeRows, options.RangeSamples, source, context);
        }
        var decisions = new RangeDecision[tensors.Count];
        for (int i = 0; i < tensors.Count; i++)
        {
            var x = tensors[i];
            var histogram = statistics.TryGet(x.Name!, out var s) ? s.Histogram : null;
            if (histogram is null || histogram.Absolute || histogram.IsEmpty) continue;
            var consumers = readers[x].Select(l => LinearConsumer.Of(l, rows[l.Node])).ToList();
            decisions[i] = ConsumerRangeChooser.Choose(x.Name!, histogram, options.RangeCandidates, Target, consumers);
        }
        return decisions.Where(d => d is not null).ToList();
    }
}
