using OnnxQuant.Ir;
using OnnxQuant.Ir.Building;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Passes;
using OnnxQuant.Passes.Calibration;
using OnnxQuant.Passes.Quantization;
using OnnxQuant.Passes.Quantization.Repq;
using OnnxQuant.Passes.Recipes;
using OnnxQuant.Runtime;
using OnnxQuant.Runtime.DataSources;
using OnnxQuant.Tests.Support;

namespace OnnxQuant.Tests.Quantization;

/// <summary>
/// repq-vit's attention-operand options: <c>head-rotation</c> and <c>center-keys</c> leave the float model's outputs
/// unchanged (ORT, optimizations off) and center every k channel; <c>qk-range-search</c> pins q's and k's quantizers
/// whose q·kᵀ error, recomputed with the C# quantizer reference, is the one the search reports and no more than each
/// tensor's own best range gives; the rewrites that cannot be exact are refused with their reasons.
/// </summary>
public class AttentionOperandTests
{
    private const string KSlice = "/transformer/layers.0.0/fn/Slice_1_output_0";

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

    private static Dictionary<string, Tensor> CalibrationImages()
    {
        using var images = NpyArray.Open(Path.Combine(SharedPaths.Data, "mnist", "calib_256.npy"));
        return new Dictionary<string, Tensor> { ["pixel_values"] = images.ReadRowsTensor(0, 16) };
    }

    private static (double[] Min, double[] Max) ChannelRanges(Model model, Dictionary<string, Tensor> feeds, string name)
    {
        using var runner = ModelRunner.FromModel(model, new RunnerOptions(), [name]);
        var t = runner.Run(feeds, [name])[name];
        int c = (int)t.Dims[^1];
        var values = t.ToFloatArray();
        var min = Enumerable.Repeat(double.PositiveInfinity, c).ToArray();
        var max = Enumerable.Repeat(double.NegativeInfinity, c).ToArray();
        for (int i = 0; i < values.Length; i++)
        {
            min[i % c] = Math.Min(min[i % c], values[i]);
            max[i % c] = Math.Max(max[i % c], values[i]);
        }
        return (min, max);
    }

    /// <summary>max over channels of |min + max| / (max − min): 0 when every channel's range is symmetric about 0.</summary>
    private static double Offset((double[] Min, double[] Max) r) => r.Min.Zip(r.Max).Max(p => Math.Abs(p.First + p.Second) / (p.Second - p.First));

    [Fact]
    public void VitMnist_HeadRotationAndKeyCentering_AreExact_AndCenterEveryKChannel()
    {
        using var model = CleanVitMnist();
        using var before = Copy(model);
        var context = CalibratedContext();

        VerifiedPass.Run(new RepqVitPass(), model, new RepqVitOptions { Bits = 4, SoftmaxBits = 0, QkBalance = true, CenterKeys = true, HeadRotation = true }, context);

        Assert.Equal(6, context.Counters["repq-vit.heads-rotated-qk"]);
        Assert.Equal(6, context.Counters["repq-vit.heads-rotated-v"]);
        Assert.Equal(6, context.Counters["repq-vit.keys-centered"]);
        Assert.Equal(6, context.Counters["repq-vit.qk-balanced"]);
        NumericAssert.SameOutputs(before, model, SharedModelInputs.For("vit_mnist.onnx", model), 1e-5);
        // On the 16 calibration images the centers came from, every k channel's range is symmetric about 0 (balancing
        // after centering scales a channel, which keeps it so); before, the offsets were large.
        var feeds = CalibrationImages();
        double offsetBefore = Offset(ChannelRanges(before, feeds, KSlice));
        double offsetAfter = Offset(ChannelRanges(model, feeds, KSlice));
        Assert.True(offsetBefore > 0.2, $"max |min+max|/(max−min) of k's channels before: {offsetBefore:F3}");
        Assert.True(offsetAfter < 1e-3, $"max |min+max|/(max−min) of k's channels {offsetAfter:G3} after vs {offsetBefore:F3} before");
    }

    [Fact]
    public void VitMnist_QkRangeSearch_PinsBothOperands_WithTheReportedScoresError()
    {
        using var model = CleanVitMnist();
        var context = CalibratedContext();

        VerifiedPass.Run(new RepqVitPass(), model, new RepqVitOptions { Bits = 4, SoftmaxBits = 4, QkRangeSearch = true }, context);

        Assert.Equal(6, context.Counters["repq-vit.qk-range-searched"]);
        var pinned = context.GetAnalysis<PinnedActivations>()!;
        var scores = model.Graph.Nodes.Where(n => n.OpType == "MatMul" && n.Inputs[1] is { IsConstant: false } && pinned.Pins.ContainsKey(n.Inputs[0]!)).ToList();
        Assert.Equal(6, scores.Count);
        Assert.All(scores, n => Assert.Equal(4, pinned.Pins[n.Inputs[1]!].Bits));
        // attention times V reads the log√2 export: not searched.
        Assert.Equal(6, model.Graph.Nodes.Count(n => n.OpType == "MatMul" && n.Inputs[0] is { } a && pinned.AlreadyQuantized.Contains(a)));
    }

    /// <summary>
    /// q ([2 heads, T, D]) with two channels 8× larger than the rest and k with an offset channel, as attention's
    /// operands look: the search's reported error equals Σ(q̂·k̂ᵀ − q·kᵀ)² recomputed with <see cref="QuantParams.FakeQuantize"/>,
    /// and it is strictly below the error of each tensor's own least-MSE range.
    /// </summary>
    [Fact]
    public void ScoresSearch_ReportsTheErrorOfItsQuantizers_AndBeatsEachTensorsOwnRange()
    {
        const int heads = 2, t = 12, d = 8;
        var random = new Random(7);
        float[] Operand(bool keys)
        {
            var values = new float[heads * t * d];
            for (int h = 0; h < heads; h++)
                for (int i = 0; i < t; i++)
                    for (int c = 0; c < d; c++)
                    {
                        double g = random.NextDouble() * 2 - 1 + (random.NextDouble() * 2 - 1);
                        double v = keys ? g + (c == 3 ? 2.5 : 0) : g * (c is 1 or 5 ? 8 : 1);
                        // q is [heads, T, D]; k is laid out [heads, D, T] as the scores MatMul reads it.
                        values[keys ? (h * d + c) * t + i : (h * t + i) * d + c] = (float)v;
                    }
            return values;
        }
        var q = new List<(float[], int[])> { (Operand(false), [heads, t, d]), (Operand(false), [heads, t, d]) };
        var k = new List<(float[], int[])> { (Operand(true), [heads, d, t]), (Operand(true), [heads, d, t]) };
        var target = new QuantTarget(DataType.UInt8, emulatedBits: 4);
        var node = new Node("MatMul", [null, null]);

        var choice = QkRangeSearch.Choose(node, q, k, target);

        Assert.Null(choice.Refusal);
        double reference = 0;
        for (int s = 0; s < 2; s++)
            for (int h = 0; h < heads; h++)
                for (int i = 0; i < t; i++)
                    for (int j = 0; j < t; j++)
                    {
                        double exact = 0, approx = 0;
                        for (int c = 0; c < d; c++)
                        {
                            double qv = q[s].Item1[(h * t + i) * d + c], kv = k[s].Item1[(h * d + c) * t + j];
                            exact += qv * kv;
                            approx += choice.Q!.Value.FakeQuantize(qv) * choice.K!.Value.FakeQuantize(kv);
                        }
                        reference += (approx - exact) * (approx - exact);
                    }
        Assert.Equal(reference, choice.SearchedError, reference * 1e-4);
        Assert.True(choice.SearchedError < choice.OwnError, $"searched {choice.SearchedError:G4} vs own ranges {choice.OwnError:G4}");
    }

    [Fact]
    public void ScoresSearch_RefusesOperandsThatAreNotQAndKeyLayouts()
    {
        var q = new List<(float[], int[])> { (new float[24], [2, 3, 4]) };
        var k = new List<(float[], int[])> { (new float[24], [2, 3, 4]) };

        var choice = QkRangeSearch.Choose(new Node("MatMul", [null, null]), q, k, new QuantTarget(DataType.UInt8, emulatedBits: 4));

        Assert.Equal("qk-range-search: the scores MatMul's operands are not [.., T, D] and [.., D, T] with equal leading dimensions", choice.Refusal);
    }

    /// <summary>scores = q·kᵀ → (a Mul by a scalar, or an Add of a mask, or nothing) → Softmax(axis).</summary>
    private static Node ScoresGraph(string between, int softmaxAxis)
    {
        var b = new GraphBuilder(opset: 21);
        var q = b.Input("q", DataType.Float, 1, 2, 5, 4);
        var k = b.Input("k", DataType.Float, 1, 2, 4, 5);
        var scores = b.Op("MatMul", [q, k], name: "scores");
        var x = between switch
        {
            "mul" => b.Op("Mul", scores, b.Constant(Tensor.FromFloats([0.5f]), "scale")),
            "mask" => b.Op("Add", scores, b.Constant(Tensor.FromFloats(new float[25], 5, 5), "mask")),
            _ => scores,
        };
        b.Output(b.Op("Softmax", [x], [Attribute.Int("axis", softmaxAxis)]), "p", DataType.Float, 1, 2, 5, 5);
        return b.Build().Graph.Nodes.Single(n => n.Name == "scores");
    }

    [Fact]
    public void KeyCentering_FiresOnlyWhenSoftmaxOverTheKeysSeesAScaledScore()
    {
        Assert.Null(KeyCentering.Refusal(ScoresGraph("mul", -1)));
        Assert.Null(KeyCentering.Refusal(ScoresGraph("none", -1)));
        Assert.Equal("center-keys: Add between the scores and the Softmax (only scaling by a constant keeps the shift a row constant)",
            KeyCentering.Refusal(ScoresGraph("mask", -1)));
        Assert.Equal("center-keys: the Softmax is not over the keys' (last) axis", KeyCentering.Refusal(ScoresGraph("mul", 2)));
    }

    [Fact]
    public void GeneratedVit_GatherSplitQkv_RotatesValues_AndSearchesScores_ButNotQAndK()
    {
        using var model = OnnxQuant.DemoModels.VitGenerator.Generate(OnnxQuant.DemoModels.VitConfig.Tiny, seed: 0);
        // As the presets run it: after the cleanup, which infers the shapes the recognizers read.
        new PassManager(RecipeLoader.LoadFileOrPreset("cleanup").Steps).Run(model, new PassContext());
        using var before = Copy(model);
        var context = new PassContext { CurrentPass = "repq-vit" };
        var shapes = new Dictionary<string, long[]> { ["pixel_values"] = [1, 3, 32, 32] };
        context.SetAnalysis(new CalibrationSettings
        {
            Samples = new CalibrationSamples(Enumerable.Range(1, 4).Select(seed => (IReadOnlyDictionary<string, Tensor>)SampleInputs.ForModel(model, seed, shapes))),
        });

        VerifiedPass.Run(new RepqVitPass(), model, new RepqVitOptions { Bits = 4, SoftmaxBits = 4, HeadRotation = true, CenterKeys = true, QkRangeSearch = true }, context);

        int layers = OnnxQuant.DemoModels.VitConfig.Tiny.Layers;
        Assert.Equal(layers, context.Counters["repq-vit.heads-rotated-v"]);
        Assert.Equal(0, context.Counters.GetValueOrDefault("repq-vit.heads-rotated-qk"));
        Assert.Equal(0, context.Counters.GetValueOrDefault("repq-vit.keys-centered"));
        Assert.Equal(layers, context.Counters["repq-vit.qk-range-searched"]);
        Assert.Contains(context.Misses.Values.SelectMany(r => r.Keys), reason => reason.StartsWith("qk-balance: ", StringComparison.Ordinal));
        // Without the log√2 export (it changes values by design), the rotation alone is exact.
        using var rotatedOnly = Copy(before);
        var plain = new PassContext { CurrentPass = "repq-vit" };
        plain.SetAnalysis(context.GetAnalysis<CalibrationSettings>()!);
        VerifiedPass.Run(new RepqVitPass(), rotatedOnly, new RepqVitOptions { Bits = 8, SoftmaxBits = 0, HeadRotation = true }, plain);
        NumericAssert.SameOutputs(before, rotatedOnly, SampleInputs.ForModel(before, 42, shapes), 1e-5);
    }
}
