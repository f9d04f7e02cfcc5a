using OnnxQuant.Ir;
using OnnxQuant.Runtime.Evaluation;
using OnnxQuant.Runtime;

namespace OnnxQuant.Tests.Evaluation;

public class ModelEvaluatorTests
{
    private static readonly EvalOptions Classify = new() { Task = EvalTask.Classify, Optimization = OptimizationLevel.None };

    [Fact]
    public void Classify_CountsTop1OfBothModels_AndTheirAgreement()
    {
        using var folder = new ScratchFolder("eval");
        var m = EvalTestModels.Classify(folder);
        var report = ModelEvaluator.Run(m.Float, m.Quant, m.Data, Classify with { Labels = m.Labels });

        // Expected counts are worked out by hand in EvalTestModels.Rows.
        var a = Assert.IsType<TaskAccuracy>(report.Accuracy);
        Assert.Equal("top1", a.Metric);
        Assert.Equal(6, a.Samples);
        Assert.True(a.Labeled);
        Assert.Equal(5, a.FloatCorrect);
        Assert.Equal(3, a.QuantCorrect);
        Assert.Equal(4, a.Agreements);
        Assert.Equal(100.0 * 5 / 6, a.FloatRate!.Value, 9);
        Assert.Equal(50, a.QuantRate!.Value, 9);
        Assert.Equal(100.0 * 4 / 6, a.AgreementRate, 9);
        Assert.Equal(100.0 * 5 / 6 - 50, a.DropPoints!.Value, 9);
    }

    [Fact]
    public void Classify_OutputError_MatchesAComputationFromTheData()
    {
        using var folder = new ScratchFolder("eval");
        var m = EvalTestModels.Classify(folder);
        var report = ModelEvaluator.Run(m.Float, m.Quant, m.Data, Classify with { Labels = m.Labels });

        // The quantized model halves column 0, so the error is 0.5·x₀ there and 0 elsewhere.
        double signal = 0, error = 0, cross = 0, test = 0, max = 0;
        foreach (var row in EvalTestModels.Rows)
            for (int c = 0; c < 4; c++)
            {
                double x = row[c] * EvalTestModels.FloatScale[c], y = row[c] * EvalTestModels.QuantScale[c];
                signal += x * x; error += (x - y) * (x - y); cross += x * y; test += y * y;
                max = Math.Max(max, Math.Abs(x - y));
            }
        var output = Assert.Single(report.Outputs);
        Assert.Equal("logits", output.Name);
        Assert.Equal(24, output.Elements);
        Assert.Equal(10 * Math.Log10(signal / error), output.SqnrDb!.Value, 6);
        Assert.Equal(cross / Math.Sqrt(signal * test), output.Cosine, 6);
        Assert.Equal(2.5, max);
        Assert.Equal(max, output.MaxAbsError, 6);
        Assert.False(output.Identical);
    }

    [Fact]
    public void Count_LimitsTheSamples_ToTheFirstN()
    {
        using var folder = new ScratchFolder("eval");
        var m = EvalTestModels.Classify(folder);
        var report = ModelEvaluator.Run(m.Float, m.Quant, m.Data, Classify with { Labels = m.Labels, Count = 4 });
        // Samples 0..3: float right on 0,1,2; quantized on 0,2; agreement on 0,2,3.
        Assert.Equal(4, report.Samples);
        Assert.Equal((3, 2, 3), (report.Accuracy!.FloatCorrect!.Value, report.Accuracy.QuantCorrect!.Value, report.Accuracy.Agreements));
        Assert.Equal(16, report.Outputs[0].Elements);
    }

    [Fact]
    public void Classify_WithoutLabels_ReportsAgreementOnly()
    {
        using var folder = new ScratchFolder("eval");
        var m = EvalTestModels.Classify(folder);
        var report = ModelEvaluator.Run(m.Float, m.Quant, m.Data, Classify);
        var a = report.Accuracy!;
        Assert.False(a.Labeled);
        Assert.Null(a.FloatRate);
        Assert.Null(a.QuantCorrect);
        Assert.Equal(4, a.Agreements);
    }

    [Fact]
    public void Compare_HasNoAccuracy_AndPasses()
    {
        using var folder = new ScratchFolder("eval");
        var m = EvalTestModels.Classify(folder);
        var report = ModelEvaluator.Run(m.Float, m.Quant, m.Data, new EvalOptions { Optimization = OptimizationLevel.None });
        Assert.Null(report.Accuracy);
        Assert.Null(report.Tensors);
        Assert.Empty(report.Gates);
        Assert.True(report.Passed);
    }

    [Fact]
    public void PerTensor_ListsSharedIntermediates_WorstFirst_WithTheirOwnError()
    {
        using var folder = new ScratchFolder("eval");
        string f = EvalTestModels.Chain(folder.File("float.onnx"), 2f);
        string q = EvalTestModels.Chain(folder.File("quant.onnx"), 2.5f);
        string data = folder.File("x.npy");
        float[] xs = [1, -2, 0.5f, 3, 0, -1, 0.25f, 2, -4];
        Calibration.NpyFiles.WriteFloats(data, [3, 3], xs);

        var report = ModelEvaluator.Run(f, q, data, new EvalOptions { PerTensor = true, Optimization = OptimizationLevel.None });

        // h = 2x against 2.5x: Σ(2x)² / Σ(0.5x)² = 16 whatever x is, 12.04 dB.
        var h = Assert.Single(report.Tensors!);
        Assert.Equal("h", h.Name);
        Assert.Equal(10 * Math.Log10(16), h.SqnrDb!.Value, 6);
        Assert.Equal(1, h.Cosine, 6);
        Assert.Equal(0.5 * 4, h.MaxAbsError, 6);
        // The graph output y = h + 1 is compared as an output, not as an intermediate.
        var y = Assert.Single(report.Outputs);
        Assert.Equal("y", y.Name);
        double signal = xs.Sum(x => (2.0 * x + 1) * (2.0 * x + 1)), error = xs.Sum(x => 0.25 * x * x);
        Assert.Equal(10 * Math.Log10(signal / error), y.SqnrDb!.Value, 6);
    }

    [Fact]
    public void Gates_NeedLabels()
    {
        using var folder = new ScratchFolder("eval");
        var m = EvalTestModels.Classify(folder);
        var e = Assert.Throws<OnnxQuantException>(() => ModelEvaluator.Run(m.Float, m.Quant, m.Data, Classify with { MinTop1 = 50 }));
        Assert.Contains("--labels", e.Message);
    }

    [Fact]
    public void MissingQuantizedModel_IsAUserError_NamingTheFile()
    {
        using var folder = new ScratchFolder("eval");
        var m = EvalTestModels.Classify(folder);
        string missing = folder.File("nope.onnx");
        var e = Assert.Throws<OnnxQuantException>(() => ModelEvaluator.Run(m.Float, missing, m.Data, Classify));
        Assert.Contains(missing, e.Message);
    }

    [Fact]
    public void FewerLabelsThanSamples_IsAUserError()
    {
        using var folder = new ScratchFolder("eval");
        var m = EvalTestModels.Classify(folder);
        string shortLabels = folder.File("short.npy");
        Calibration.NpyFiles.WriteInt64s(shortLabels, [2], [0, 0]);
        var e = Assert.Throws<OnnxQuantException>(() => ModelEvaluator.Run(m.Float, m.Quant, m.Data, Classify with { Labels = shortLabels }));
        Assert.Contains("2 labels", e.Message);
    }
}
