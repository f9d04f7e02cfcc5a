using OnnxQuant.Ir;
using OnnxQuant.Runtime.DataSources;
using OnnxQuant.Runtime.Evaluation;
using OnnxQuant.Runtime;

namespace OnnxQuant.Tests.Evaluation;

/// <summary>
/// eval of a real model against itself: everything must agree exactly, and the accuracy must be the model's own,
/// computed here without the evaluator.
/// </summary>
public class SharedModelEvalTests
{
    private static string Mnist(string file) => Path.Combine(SharedPaths.Data, "mnist", file);
    private static string Ocr(string file) => Path.Combine(SharedPaths.Data, "ocr_words_npy", file);

    [Fact]
    public void VitMnist_AgainstItself_AgreesFully_WithItsOwnAccuracy()
    {
        const int n = 200;
        string vit = SharedPaths.Model("vit_mnist.onnx");
        var options = new EvalOptions { Task = EvalTask.Classify, Labels = Mnist("eval_5000_labels.npy"), Count = n };
        var report = ModelEvaluator.Run(vit, vit, Mnist("eval_5000.npy"), options);

        // The reference: one batch of the first 200 images through ONNX Runtime, arg-max per row, against the labels.
        using var images = NpyArray.Open(Mnist("eval_5000.npy"));
        using var labels = NpyArray.Open(Mnist("eval_5000_labels.npy"));
        using var runner = ModelRunner.FromFile(vit, new RunnerOptions { Optimization = options.Optimization });
        var logits = runner.Run(new Dictionary<string, Tensor> { ["pixel_values"] = images.ReadRowsTensor(0, n) })["logits"].AsSpan<float>();
        var truth = labels.ReadRowsTensor(0, n).AsSpan<long>();
        int correct = 0;
        for (int i = 0; i < n; i++)
        {
            var row = logits.Slice(i * 10, 10);
            int best = 0;
            for (int c = 1; c < 10; c++) if (row[c] > row[best]) best = c;
            if (best == truth[i]) correct++;
        }

        var a = report.Accuracy!;
        Assert.Equal(n, report.Samples);
        Assert.Equal(n, a.Agreements);
        Assert.Equal(100, a.AgreementRate);
        Assert.Equal(correct, a.FloatCorrect);
        Assert.Equal(correct, a.QuantCorrect);
        Assert.Equal(0, a.DropPoints);
        Assert.True(correct >= 0.9 * n, $"vit_mnist got {correct}/{n}: wrong preprocessing or labels?");
        var output = Assert.Single(report.Outputs);
        Assert.True(output.Identical);
        Assert.Null(output.SqnrDb);
        Assert.Equal(1, output.Cosine, 12);
        Assert.Equal(0, output.MaxAbsError);
        Assert.Equal(n * 10, output.Elements);
    }

    [Fact]
    public void PpOcr_AgainstItself_HasEqualExactMatch_AtLeast90Percent()
    {
        string ppocr = SharedPaths.Model("ppocr_v4_rec.onnx");
        var options = new EvalOptions
        {
            Task = EvalTask.Ctc,
            Labels = Ocr("eval_200_labels.txt"),
            Keys = SharedPaths.Model("ppocr_keys_v1.txt"),
            Count = 20,
            MinTop1 = 90,
            MaxDrop = 0,
        };
        var report = ModelEvaluator.Run(ppocr, ppocr, Ocr("eval_200.npy"), options);

        var a = report.Accuracy!;
        Assert.Equal("exactMatch", a.Metric);
        Assert.Equal(20, a.Samples);
        Assert.Equal(20, a.Agreements);
        Assert.Equal(a.FloatCorrect, a.QuantCorrect);
        Assert.True(a.QuantRate >= 90, $"ppocr exact match {a.QuantRate}% on the first 20 words: decoding or keys wrong?");
        Assert.True(report.Passed);
        Assert.All(report.Gates, g => Assert.True(g.Passed));
        Assert.True(Assert.Single(report.Outputs).Identical);
    }
}
