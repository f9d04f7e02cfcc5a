using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Passes;
using OnnxQuant.Passes.Calibration;
using OnnxQuant.Passes.Quantization.Repq;
using OnnxQuant.Passes.Recipes;
using OnnxQuant.Runtime;
using OnnxQuant.Runtime.DataSources;
using OnnxQuant.Tests.Support;

namespace OnnxQuant.Tests.Quantization;

/// <summary>
/// repq-vit's <c>qk-balance</c>: q's channels times β and k's divided by β, folded into the fused qkv projection, leave
/// the model's outputs unchanged (ORT, optimizations off) and bring each channel's q and k ranges together.
/// </summary>
public class QkBalanceTests
{
    private const string Q = "/transformer/layers.0.0/fn/Slice_output_0", K = "/transformer/layers.0.0/fn/Slice_1_output_0";

    private static Model Copy(Model model) => OnnxReader.Read(OnnxWriter.ToBytes(model));

    private static Model CleanVitMnist()
    {
        var model = OnnxReader.Read(SharedPaths.Model("vit_mnist.onnx"));
        new PassManager(RecipeLoader.LoadFileOrPreset("cleanup").Steps).Run(model, new PassContext());
        return model;
    }

    private static PassContext CalibratedContext()
    {
        var context = new PassContext { CurrentPass = "repq-vit" };
        context.SetAnalysis(new CalibrationSettings { Data = Path.Combine(SharedPaths.Data, "mnist", "calib_256.npy"), Source = new DataSourceOptions { Count = 16, BatchSize = 8 } });
        return context;
    }

    /// <summary>Per channel of the last axis, max |x| over the tensor <paramref name="name"/> for <paramref name="feeds"/>.</summary>
    private static double[] ChannelAbsMax(Model model, Dictionary<string, Tensor> feeds, string name)
    {
        using var runner = ModelRunner.FromModel(model, new RunnerOptions(), [name]);
        var t = runner.Run(feeds, [name])[name];
        int c = (int)t.Dims[^1];
        var values = t.ToFloatArray();
        var max = new double[c];
        for (int i = 0; i < values.Length; i++) max[i % c] = Math.Max(max[i % c], Math.Abs(values[i]));
        return max;
    }

    /// <summary>max over channels of |ln(max|q_c| / max|k_c|)|: 0 when every channel's q and k ranges are equal.</summary>
    private static double Imbalance(double[] q, double[] k) => q.Zip(k).Max(p => Math.Abs(Math.Log(p.First / p.Second)));

    [Fact]
    public void VitMnist_QkBalance_IsExact_AndBringsQAndKRangesTogether()
    {
        using var model = CleanVitMnist();
        using var before = Copy(model);
        var context = CalibratedContext();

        VerifiedPass.Run(new RepqVitPass(), model, new RepqVitOptions { Bits = 4, SoftmaxBits = 0, QkBalance = true }, context);

        Assert.Equal(6, context.Counters["repq-vit.qk-balanced"]);
        Assert.Equal(13, context.Counters["repq-vit.layer-norms"]);
        NumericAssert.SameOutputs(before, model, SharedModelInputs.For("vit_mnist.onnx", model), 1e-5);
        // On the 16 calibration images β was computed from, every channel's q and k ranges are now equal.
        using var images = NpyArray.Open(Path.Combine(SharedPaths.Data, "mnist", "calib_256.npy"));
        var feeds = new Dictionary<string, Tensor> { ["pixel_values"] = images.ReadRowsTensor(0, 16) };
        double imbalanceBefore = Imbalance(ChannelAbsMax(before, feeds, Q), ChannelAbsMax(before, feeds, K));
        double imbalanceAfter = Imbalance(ChannelAbsMax(model, feeds, Q), ChannelAbsMax(model, feeds, K));
        Assert.True(imbalanceBefore > 0.5, $"max |ln(q/k range)| before: {imbalanceBefore:F3}");
        Assert.True(imbalanceAfter < 1e-3, $"max |ln(q/k range)| {imbalanceAfter:G3} after vs {imbalanceBefore:F3} before");
    }

    [Fact]
    public void QkBalance_Off_LeavesTheProjectionsAlone()
    {
        using var balanced = CleanVitMnist();
        using var plain = CleanVitMnist();
        VerifiedPass.Run(new RepqVitPass(), balanced, new RepqVitOptions { Bits = 4, SoftmaxBits = 0, QkBalance = true }, CalibratedContext());
        var context = CalibratedContext();
        VerifiedPass.Run(new RepqVitPass(), plain, new RepqVitOptions { Bits = 4, SoftmaxBits = 0 }, context);

        Assert.False(context.Counters.ContainsKey("repq-vit.qk-balanced"));
        static float[] QkvWeight(Model m) => m.Graph.Nodes.First(n => n.Name == "/transformer/layers.0.0/fn/to_qkv/MatMul").Inputs[1]!.Const!.ToFloatArray();
        Assert.NotEqual(QkvWeight(plain), QkvWeight(balanced));
    }

    [Fact]
    public void GeneratedVit_GatherSplitQkv_IsNotBalanced_AndSaysWhy()
    {
        using var model = OnnxQuant.DemoModels.VitGenerator.Generate(OnnxQuant.DemoModels.VitConfig.Tiny, seed: 0);
        var context = new PassContext { CurrentPass = "repq-vit" };
        var shapes = new Dictionary<string, long[]> { ["pixel_values"] = [1, 3, 32, 32] };
        context.SetAnalysis(new CalibrationSettings
        {
            Samples = new CalibrationSamples(Enumerable.Range(1, 4).Select(seed => (IReadOnlyDictionary<string, Tensor>)SampleInputs.ForModel(model, seed, shapes))),
        });

        VerifiedPass.Run(new RepqVitPass(), model, new RepqVitOptions { Bits = 8, SoftmaxBits = 0, QkBalance = true }, context);

        Assert.Equal(0, context.Counters.GetValueOrDefault("repq-vit.qk-balanced"));
        Assert.Contains(context.Misses.Values.SelectMany(r => r.Keys), reason => reason.StartsWith("qk-balance: ", StringComparison.Ordinal));
    }
}
