using OnnxQuant.Ir;
using OnnxQuant.Passes;
using OnnxQuant.Passes.Calibration.Ranges.Consumer;
using OnnxQuant.Passes.LinearLayers;
using OnnxQuant.Runtime;
using OnnxQuant.Runtime.DataSources;
using OnnxQuant.Runtime.Evaluation;

namespace OnnxQuant.Tests.Calibration.Consumer;

/// <summary>
/// <see cref="ConsumerSampler"/>'s im2col patches of a grouped, strided, dilated, padded Conv: each sampled patch,
/// through the weight rows as <see cref="LinearConsumer"/> applies them, gives exactly ONNX Runtime's Conv output at
/// some position (so the chooser's consumer error is the Conv's); and the sample is the same on every run.
/// </summary>
public class ConsumerSamplerTests
{
    private const int C = 4, H = 9, W = 11, M = 6, Groups = 2;

    private static Model ConvModel()
    {
        var g = new Graph();
        var model = new Model(g) { IrVersion = 10 };
        model.SetOpset("", 17);
        var x = g.AddInput("image", new TensorType(DataType.Float, new Shape([Dim.Symbolic("batch"), Dim.Known(C), Dim.Known(H), Dim.Known(W)])));
        var random = new Random(3);
        var weights = Enumerable.Range(0, M * (C / Groups) * 9).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        var w = g.AddConstant(Tensor.FromFloats(weights, M, C / Groups, 3, 3), "w");
        var conv = g.Append(new Node("Conv", [x, w]) { Name = "conv" });
        conv.SetAttribute(Attribute.Int("group", Groups));
        conv.SetAttribute(Attribute.Ints("strides", 2, 1));
        conv.SetAttribute(Attribute.Ints("dilations", 1, 2));
        conv.SetAttribute(Attribute.Ints("pads", 1, 0, 1, 2));
        conv.Output.Type = new TensorType(DataType.Float);
        conv.Output.Name = "y";
        g.Outputs.Add(conv.Output);
        return model;
    }

    private static CalibrationSamples Images(int count)
    {
        var random = new Random(4);
        return new CalibrationSamples(Enumerable.Range(0, count).Select(_ => (IReadOnlyDictionary<string, Tensor>)new Dictionary<string, Tensor>
        {
            ["image"] = Tensor.FromFloats(Enumerable.Range(0, C * H * W).Select(_ => (float)random.NextDouble()).ToArray(), 1, C, H, W),
        }).ToList());
    }

    private static (LinearLayer Layer, List<float[]> Rows) SampleOnce(Model model, CalibrationSamples samples, int maxRows)
    {
        var conv = model.Graph.Nodes.Single(n => n.OpType == "Conv");
        Assert.Null(LinearLayer.TryRead(conv, out var layer));
        Assert.Null(ConsumerSampler.Refusal(layer!, conv.Inputs[0]!));
        using var source = CalibrationDataSource.Open(samples, model);
        var rows = ConsumerSampler.Sample(model, [layer!], maxRows, maxSamples: 4, source, new PassContext());
        return (layer!, rows[conv]);
    }

    [Fact]
    public void EveryPatchTimesTheWeightRows_IsOrtsConvOutputAtSomePosition()
    {
        var model = ConvModel();
        var samples = Images(4);
        var (layer, patches) = SampleOnce(model, samples, maxRows: 40);
        Assert.Equal(40, patches.Count);
        var rows = layer.ReadRows();
        int k = layer.K, perGroup = M / Groups;
        using var runner = ModelRunner.FromModel(model);
        var outputs = samples.Samples.Select(s => FloatValues.Of(runner.Run(s)["y"]).ToArray()).ToList();
        var dims = runner.Run(samples.Samples[0])["y"].Dims;
        int oh = (int)dims[2], ow = (int)dims[3];
        Assert.Equal((5, 9), (oh, ow));   // (9 + 1 + 1 − 3)/2 + 1, (11 + 0 + 2 − 2·2 − 1)/1 + 1
        foreach (var patch in patches)
        {
            var y = new double[M];
            for (int m = 0; m < M; m++)
                for (int j = 0; j < k; j++) y[m] += (double)rows[m * k + j] * patch[m / perGroup * k + j];
            bool found = outputs.Any(o => Enumerable.Range(0, oh * ow).Any(p =>
                Enumerable.Range(0, M).All(m => Math.Abs(o[m * oh * ow + p] - y[m]) < 1e-4)));
            Assert.True(found, $"patch gives [{string.Join(", ", y.Select(v => v.ToString("F4")))}], which is no Conv output");
        }
    }

    [Fact]
    public void SameDataTwice_SamePatches()
    {
        var model = ConvModel();
        var (_, a) = SampleOnce(model, Images(4), maxRows: 16);
        var (_, b) = SampleOnce(model, Images(4), maxRows: 16);
        Assert.Equal(a.Count, b.Count);
        for (int i = 0; i < a.Count; i++) Assert.Equal(a[i], b[i]);
    }
}
