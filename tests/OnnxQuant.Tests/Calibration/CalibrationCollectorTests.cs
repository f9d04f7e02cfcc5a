using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Passes.Calibration;
using OnnxQuant.Runtime.DataSources;
using OnnxQuant.Runtime.Calibration.Statistics;
using OnnxQuant.Runtime;
using OnnxQuant.Runtime.Calibration;

namespace OnnxQuant.Tests.Calibration;

public class CalibrationCollectorTests
{
    private static readonly string Calib256 = Path.Combine(SharedPaths.Data, "mnist", "calib_256.npy");
    private static readonly ObserverSpec Spec = new() { Histogram = HistogramKind.Signed };

    private static (Model Model, CalibrationDataSource Data) Open(int count = 16, int batch = 4)
    {
        var model = OnnxReader.Read(SharedPaths.Model("vit_mnist.onnx"));
        return (model, CalibrationDataSource.Open(Calib256, model, new DataSourceOptions { Count = count, BatchSize = batch }));
    }

    [Fact]
    public void ChunkedUnderAMemoryBudgetGivesIdenticalStatistics()
    {
        var (model, data) = Open();
        using (model)
        using (data)
        {
            var targets = CalibrationTargets.ActivationTargets(model, Spec);
            var whole = CalibrationCollector.Collect(model, data, targets);
            var reports = new List<CalibrationProgress>();
            var chunked = CalibrationCollector.Collect(model, data, targets, new CollectorOptions
            {
                MemoryBudgetBytes = 8_000_000, // about a third of one batch's 26 MB of activations
                Progress = reports.Add,
                ProgressInterval = TimeSpan.Zero,
            });
            int passes = reports[^1].Passes;
            Assert.True(passes > 1, "a budget below one batch's tensors must split them");
            Assert.Equal(passes * 16L, reports[^1].TotalSamplesDone);
            Assert.Equal(whole.ToJson(), chunked.ToJson());
            Assert.True(whole.Count > 50, $"vit_mnist has many activations; observed {whole.Count}");
        }
    }

    [Fact]
    public void ObservingABatchWhileTheNextRunsGivesIdenticalStatistics()
    {
        var (model, data) = Open(count: 12, batch: 1);
        using (model)
        using (data)
        {
            var targets = CalibrationTargets.ActivationTargets(model, Spec);
            var overlapped = CalibrationCollector.Collect(model, data, targets, new CollectorOptions { Overlap = true, ObserverThreads = 3 });
            var serial = CalibrationCollector.Collect(model, data, targets, new CollectorOptions { Overlap = false, ObserverThreads = 1 });
            Assert.Equal(serial.ToJson(), overlapped.ToJson());
            Assert.Equal(12, serial[targets[^1].Key].Batches);
        }
    }

    [Fact]
    public void OutputAndInputStatisticsMatchAPlainRunAndTheFile()
    {
        var (model, data) = Open(count: 8, batch: 3);
        using (model)
        using (data)
        {
            var stats = CalibrationCollector.Collect(model, data, [new("pixel_values", Spec), new("logits", Spec)]);
            float lo = float.MaxValue, hi = float.MinValue;
            using var runner = ModelRunner.FromModel(model);
            foreach (var batch in data.Batches())
            {
                var logits = runner.Run(batch.Feeds)["logits"].AsSpan<float>();
                foreach (float v in logits) { lo = Math.Min(lo, v); hi = Math.Max(hi, v); }
            }
            Assert.Equal(lo, stats["logits"].MinMax.Min);
            Assert.Equal(hi, stats["logits"].MinMax.Max);
            Assert.Equal(8 * 10, stats["logits"].Histogram!.Total);

            var raw = File.ReadAllBytes(Calib256);
            var pixels = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(raw.AsSpan(128, 8 * 784 * 4)).ToArray();
            Assert.Equal(pixels.Min(), stats["pixel_values"].MinMax.Min);
            Assert.Equal(pixels.Max(), stats["pixel_values"].MinMax.Max);
            Assert.Equal(8, stats.Samples);
        }
    }

    [Fact]
    public void UnknownAndConstantTensorsAreRefusedByName()
    {
        var (model, data) = Open(count: 1, batch: 1);
        using (model)
        using (data)
        {
            var e = Assert.Throws<OnnxQuantException>(() => CalibrationCollector.Collect(model, data, [new("no_such_tensor", Spec)]));
            Assert.Contains("'no_such_tensor'", e.Message);
            string weight = model.Graph.Constants.First().Name!;
            Assert.Contains("constant", Assert.Throws<OnnxQuantException>(() => CalibrationCollector.Collect(model, data, [new(weight, Spec)])).Message);
        }
    }
}
