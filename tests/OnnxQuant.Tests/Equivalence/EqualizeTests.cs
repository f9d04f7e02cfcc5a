using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Passes;
using OnnxQuant.Passes.Equivalence;
using OnnxQuant.Passes.LinearLayers;
using OnnxQuant.Passes.Recipes;
using OnnxQuant.Tests.Fusion;
using OnnxQuant.Runtime;
using OnnxQuant.Tests.Support;

namespace OnnxQuant.Tests.Equivalence;

/// <summary>
/// Cross-layer equalization: the float model before and after <c>equalize</c> alone agree in ONNX Runtime (graph
/// optimizations off) within max|a − b| / max|a| ≤ 1e-4, the pass counts the pairs it changed, and every case where
/// it must not fire records its reason.
/// </summary>
public class EqualizeTests
{
    private const double Tolerance = 1e-4;

    /// <summary>A weight whose output channels (axis 0 for Conv, <paramref name="axis"/> otherwise) have ranges spread over three decades.</summary>
    private static Value Uneven(FusionTestGraph t, int seed, int axis, params long[] dims)
    {
        var random = new Random(seed);
        long n = dims.Aggregate(1L, (a, b) => a * b);
        long inner = dims.Skip(axis + 1).Aggregate(1L, (a, b) => a * b);
        var data = new float[n];
        for (long i = 0; i < n; i++)
        {
            long channel = i / inner % dims[axis];
            data[i] = (float)((random.NextDouble() * 2 - 1) * Math.Pow(10, channel % 4 - 2));
        }
        return t.Const(data, dims);
    }

    private static Value Conv(FusionTestGraph t, Value x, Value w, Value? b, long group = 1) =>
        t.Op("Conv", b is null ? [x, w] : [x, w, b], Attribute.Ints("pads", 1, 1, 1, 1), Attribute.Int("group", group));

    private static PassContext RunExact(FusionTestGraph t, int expectedPairs)
    {
        var context = new PassContext();
        t.RunAndCompare(new EqualizePass(), Tolerance, context);
        Assert.Equal(expectedPairs, context.Counters.GetValueOrDefault("pairs"));
        return context;
    }

    /// <summary>max/min over output channels of max |W| (the spread a per-tensor quantizer suffers from).</summary>
    private static double Spread(Node node)
    {
        LinearLayer.TryRead(node, out var layer);
        var rows = layer!.ReadRows();
        var ranges = Enumerable.Range(0, layer.OutputChannels)
            .Select(o => rows.Skip(o * layer.K).Take(layer.K).Max(v => Math.Abs(v))).ToList();
        return ranges.Max() / ranges.Min();
    }

    [Fact]
    public void ConvReluConv_IsExact_AndNarrowsTheChannelRangeSpread()
    {
        var t = new FusionTestGraph(17);
        var x = t.Input("x", 1, 4, 8, 8);
        var first = Conv(t, x, Uneven(t, 1, 0, 8, 4, 3, 3), t.Random(-1, 1, 8));
        t.Output(Conv(t, t.Op("Relu", first), t.Random(-1, 1, 6, 8, 3, 3), t.Random(-1, 1, 6)));
        var producer = first.Producer!;
        double before = Spread(producer);

        RunExact(t, 1);

        double after = Spread(producer);
        Assert.True(before > 100, $"The test weight's spread {before} is not uneven enough to prove anything.");
        Assert.True(after < before / 10, $"Equalization left a spread of {after} (was {before}).");
    }

    [Theory]
    [InlineData("Gemm", true)]
    [InlineData("Gemm", false)]
    [InlineData("MatMul", false)]
    public void LinearReluLinear_IsExact(string op, bool transB)
    {
        var t = new FusionTestGraph(17);
        var x = t.Input("x", 3, 16);
        Value first = op == "Gemm"
            ? t.Op("Gemm", [x, transB ? Uneven(t, 2, 0, 12, 16) : Uneven(t, 2, 1, 16, 12), t.Random(-1, 1, 12)], Attribute.Int("transB", transB ? 1 : 0), Attribute.Float("beta", 0.5f))
            : t.Op("MatMul", x, Uneven(t, 2, 1, 16, 12));
        Value second = op == "Gemm"
            ? t.Op("Gemm", [t.Op("Relu", first), t.Random(-1, 1, 12, 5), t.Random(-1, 1, 5)], Attribute.Float("alpha", 2f))
            : t.Op("MatMul", t.Op("Relu", first), t.Random(-1, 1, 12, 5));
        t.Output(second);

        RunExact(t, 1);
    }

    [Fact]
    public void DepthwiseChain_ThroughLeakyReluAndMaxPool_IsExact_AndChangesBothPairs()
    {
        var t = new FusionTestGraph(17);
        var x = t.Input("x", 1, 4, 8, 8);
        var expand = t.Op("Conv", x, Uneven(t, 3, 0, 8, 4, 1, 1), t.Random(-1, 1, 8));
        var pooled = t.Op("MaxPool", [t.Op("LeakyRelu", [expand], Attribute.Float("alpha", 0.1f))], Attribute.Ints("kernel_shape", 2, 2));
        var depthwise = Conv(t, pooled, Uneven(t, 4, 0, 8, 1, 3, 3), t.Random(-1, 1, 8), group: 8);
        var project = t.Op("Conv", t.Op("Relu", depthwise), t.Random(-1, 1, 4, 8, 1, 1));
        t.Output(project);

        var context = RunExact(t, 2);
        Assert.True(context.Counters.GetValueOrDefault("sweeps") >= 2, "a chain of two pairs needs more than one sweep");
    }

    [Fact]
    public void GroupedConvPair_IsExact()
    {
        var t = new FusionTestGraph(17);
        var x = t.Input("x", 1, 8, 6, 6);
        var first = Conv(t, x, Uneven(t, 5, 0, 8, 4, 3, 3), t.Random(-1, 1, 8), group: 2);
        t.Output(Conv(t, t.Op("Identity", t.Op("Relu", first)), t.Random(-1, 1, 8, 2, 3, 3), null, group: 4));

        RunExact(t, 1);
    }

    [Fact]
    public void SecondRun_ChangesNothing()
    {
        var t = new FusionTestGraph(17);
        var first = Conv(t, t.Input("x", 1, 4, 8, 8), Uneven(t, 1, 0, 8, 4, 3, 3), t.Random(-1, 1, 8));
        t.Output(Conv(t, t.Op("Relu", first), t.Random(-1, 1, 6, 8, 3, 3), null));
        Assert.True(VerifiedPass.Run(new EqualizePass(), t.Model, new PassContext()).Modified);
        var bytes = OnnxWriter.ToBytes(t.Model);

        Assert.False(VerifiedPass.Run(new EqualizePass(), t.Model, new PassContext()).Modified);
        Assert.Equal(bytes, OnnxWriter.ToBytes(t.Model));
    }

    [Fact]
    public void RejectsZeroIterations()
    {
        var t = new FusionTestGraph(17);
        t.Output(t.Op("Relu", t.Input("x", 1, 4)));
        var error = Assert.Throws<OnnxQuantException>(() =>
            new EqualizePass().Run(t.Model, new EqualizeOptions { MaxIterations = 0 }, new PassContext()));
        Assert.Contains("max-iterations", error.Message);
    }

    // ---- Must not fire: each records its reason. ----

    private static FusionTestGraph ConvPairThrough(Func<FusionTestGraph, Value, Value> between, long opset = 20)
    {
        var t = new FusionTestGraph(opset);
        var first = Conv(t, t.Input("x", 1, 4, 8, 8), Uneven(t, 1, 0, 8, 4, 3, 3), t.Random(-1, 1, 8));
        t.Output(Conv(t, between(t, first), t.Random(-1, 1, 6, 8, 3, 3), null));
        return t;
    }

    [Theory]
    [InlineData("Sigmoid")]
    [InlineData("Tanh")]
    [InlineData("HardSwish")]
    [InlineData("Gelu")]
    public void DoesNotFire_ThroughANonHomogeneousActivation(string op)
    {
        var t = ConvPairThrough((t, v) => t.Op(op, v));
        FusionTestGraph.AssertDoesNotFire(t.Model, new EqualizePass(), $"passes through {op}, which does not commute");
    }

    [Theory]
    [InlineData("BatchNormalization")]
    [InlineData("InstanceNormalization")]
    public void DoesNotFire_ThroughANormalization(string op)
    {
        var t = ConvPairThrough((t, v) => op == "BatchNormalization"
            ? t.Op(op, v, t.Random(0.5f, 2, 8), t.Random(-1, 1, 8), t.Random(-1, 1, 8), t.Random(0.5f, 2, 8))
            : t.Op(op, v, t.Random(0.5f, 2, 8), t.Random(-1, 1, 8)));
        FusionTestGraph.AssertDoesNotFire(t.Model, new EqualizePass(), $"passes through {op}, which does not commute");
    }

    [Fact]
    public void DoesNotFire_WhenTheScaledTensorHasAnotherConsumer()
    {
        var t = ConvPairThrough((t, v) =>
        {
            var relu = t.Op("Relu", v);
            t.Output(t.Op("Sigmoid", relu));
            return relu;
        });
        FusionTestGraph.AssertDoesNotFire(t.Model, new EqualizePass(), "has another consumer that would see the scaled tensor");
    }

    [Fact]
    public void DoesNotFire_WhenTheScaledTensorIsAGraphOutput()
    {
        var t = ConvPairThrough((t, v) =>
        {
            var relu = t.Op("Relu", v);
            t.Output(relu);
            return relu;
        });
        FusionTestGraph.AssertDoesNotFire(t.Model, new EqualizePass(), "is a graph output");
    }

    [Fact]
    public void DoesNotFire_WhenAWeightIsShared()
    {
        var t = new FusionTestGraph(17);
        var x = t.Input("x", 1, 4, 8, 8);
        var shared = Uneven(t, 1, 0, 8, 4, 3, 3);
        var original = shared.Const;
        var first = Conv(t, x, shared, null);
        t.Output(Conv(t, t.Op("Relu", first), t.Random(-1, 1, 6, 8, 3, 3), null));
        t.Output(t.Op("Sigmoid", Conv(t, x, shared, null)));

        FusionTestGraph.AssertDoesNotFire(t.Model, new EqualizePass(), "layer 1's weight is shared with another node");
        Assert.Same(original, shared.Const);
    }

    // ---- Concat (U-Net skip connections). ----

    /// <summary>
    /// A small U-Net-like graph: an encoder activation read by both the next conv and the skip Concat, a decoder conv
    /// chain, and a Concat of [decoder, a second encoder branch, the graph input] along channels into the last conv.
    /// </summary>
    private static FusionTestGraph UNet(Func<FusionTestGraph, Value, Value>? onSkipBranch = null, long concatAxis = 1)
    {
        var t = new FusionTestGraph(17);
        var x = t.Input("x", 1, 4, 8, 8);
        var encoder = t.Op("Relu", Conv(t, x, Uneven(t, 11, 0, 8, 4, 3, 3), t.Random(-1, 1, 8)));
        var down = t.Op("Relu", Conv(t, encoder, Uneven(t, 12, 0, 8, 8, 3, 3), t.Random(-1, 1, 8)));
        var decoder = t.Op("Relu", Conv(t, down, Uneven(t, 13, 0, 6, 8, 3, 3), t.Random(-1, 1, 6)));
        var branch = Conv(t, x, Uneven(t, 14, 0, 5, 4, 3, 3), t.Random(-1, 1, 5));
        branch = onSkipBranch is null ? t.Op("Relu", branch) : onSkipBranch(t, branch);
        var joined = t.Op("Concat", [decoder, branch, x, encoder], Attribute.Int("axis", concatAxis));
        t.Output(Conv(t, joined, t.Random(-1, 1, 3, 6 + 5 + 4 + 8, 3, 3), t.Random(-1, 1, 3)));
        return t;
    }

    [Fact]
    public void UNetSkipConcat_IsExact_AndEqualizesEachBranchAgainstItsSliceOfTheConsumer()
    {
        var t = UNet();
        var branchConv = t.Model.Graph.Nodes.Where(n => n.OpType == "Conv").ElementAt(3);
        double before = Spread(branchConv);

        // down→decoder (plain), decoder→Concat slot 0 and branch→Concat slot 1 pair with the last conv; the encoder
        // activation feeds both the down conv and the Concat, so it must not be scaled.
        var context = RunExact(t, 3);

        Assert.True(Spread(branchConv) < before / 10, $"The Concat branch kept a spread of {Spread(branchConv)} (was {before}).");
        Assert.Contains(FusionTestGraph.Reasons(context), r => r.Contains("has another consumer that would see the scaled tensor", StringComparison.Ordinal));
    }

    [Fact]
    public void ConcatBranchThroughSigmoid_IsNotScaled_AndRecordsWhy()
    {
        var t = UNet((t, v) => t.Op("Sigmoid", v));
        var context = RunExact(t, 2);
        Assert.Contains(FusionTestGraph.Reasons(context), r => r.Contains("passes through Sigmoid, which does not commute", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("Tanh")]
    [InlineData("Gelu")]
    public void ConcatBranchThroughANonHomogeneousActivation_DoesNotFire(string op)
    {
        var t = new FusionTestGraph(20);
        var x = t.Input("x", 1, 4, 8, 8);
        var branch = t.Op(op, Conv(t, x, Uneven(t, 1, 0, 4, 4, 3, 3), t.Random(-1, 1, 4)));
        var joined = t.Op("Concat", [branch, x], Attribute.Int("axis", 1));
        t.Output(Conv(t, joined, t.Random(-1, 1, 6, 8, 3, 3), null));
        FusionTestGraph.AssertDoesNotFire(t.Model, new EqualizePass(), $"passes through {op}, which does not commute");
    }

    [Fact]
    public void DoesNotFire_AcrossAConcatOfAnotherAxis()
    {
        var t = new FusionTestGraph(17);
        var x = t.Input("x", 1, 4, 8, 8);
        var a = t.Op("Relu", Conv(t, x, Uneven(t, 1, 0, 4, 4, 3, 3), null));
        var joined = t.Op("Concat", [a, x], Attribute.Int("axis", 2));
        t.Output(Conv(t, joined, t.Random(-1, 1, 6, 4, 3, 3), null));

        FusionTestGraph.AssertDoesNotFire(t.Model, new EqualizePass(), "a Concat joins branches along axis 2, not the channel axis");
    }

    [Fact]
    public void DoesNotFire_WhenAConcatBranchHasAnotherConsumer()
    {
        var t = new FusionTestGraph(17);
        var x = t.Input("x", 1, 4, 8, 8);
        var a = t.Op("Relu", Conv(t, x, Uneven(t, 1, 0, 4, 4, 3, 3), t.Random(-1, 1, 4)));
        t.Output(t.Op("Sigmoid", a));
        var joined = t.Op("Concat", [a, x], Attribute.Int("axis", 1));
        t.Output(Conv(t, joined, t.Random(-1, 1, 6, 8, 3, 3), null));

        FusionTestGraph.AssertDoesNotFire(t.Model, new EqualizePass(), "has another consumer that would see the scaled tensor");
    }

    // ---- High-bias absorption. ----

    /// <summary>
    /// Layer 1 → Relu → layer 2 where layer 1's channels 0, 2, 4… have a bias of +6 over weights of at most 0.1 on
    /// inputs in [−1, 1]: those pre-activations never fall below 6 − 0.1·K, so their lower bound moves into layer 2.
    /// </summary>
    private static (FusionTestGraph Graph, Value PreActivation) HighBiasPair(bool conv, long pad = 0)
    {
        var t = new FusionTestGraph(17);
        int k = conv ? 4 : 16, m = 8;
        var bias = Enumerable.Range(0, m).Select(i => i % 2 == 0 ? 6f : -0.5f).ToArray();
        Value pre;
        if (conv)
        {
            var x = t.Input("x", 1, k, 6, 6);
            pre = t.Op("Conv", [x, t.Random(-0.1f, 0.1f, m, k, 1, 1), t.Const(bias, m)]);
            t.Output(t.Op("Conv", [t.Op("Relu", pre), t.Random(-1, 1, 5, m, 3, 3), t.Random(-1, 1, 5)], Attribute.Ints("pads", pad, pad, pad, pad)));
        }
        else
        {
            var x = t.Input("x", 3, k);
            pre = t.Op("Gemm", [x, t.Random(-0.1f, 0.1f, k, m), t.Const(bias, m)]);
            t.Output(t.Op("Gemm", [t.Op("Relu", pre), t.Random(-1, 1, m, 5)], Attribute.Float("alpha", 2f), Attribute.Float("beta", 0.5f)));
        }
        pre.Name = "pre_activation";
        pre.Type = new TensorType(DataType.Float);
        return (t, pre);
    }

    private static PassContext WithCalibration(FusionTestGraph t)
    {
        var context = new PassContext();
        // The comparison's own inputs (seed 7) among the calibration samples: exactness holds on calibrated data.
        context.SetAnalysis(new Passes.Calibration.CalibrationSettings
        {
            Samples = new OnnxQuant.Runtime.DataSources.CalibrationSamples(new[] { 7, 8, 9 }.Select(seed => (IReadOnlyDictionary<string, Tensor>)SampleInputs.ForModel(t.Model, seed))),
        });
        return context;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void HighBiasAbsorption_IsExactOnCalibratedData_AndLowersThePreActivation(bool conv)
    {
        var (t, pre) = HighBiasPair(conv);
        var samples = new[] { 7, 8, 9 }.Select(seed => SampleInputs.ForModel(t.Model, seed)).ToList();
        var lowBefore = ChannelMins(t.Model, pre, samples, 1);
        var context = WithCalibration(t);

        t.RunAndCompare(new EqualizePass(), Tolerance, context);

        Assert.Equal(4, context.Counters.GetValueOrDefault("absorbed-channels"));
        var lowAfter = ChannelMins(t.Model, pre, samples, 1);
        for (int c = 0; c < lowBefore.Length; c += 2)
        {
            Assert.True(lowBefore[c] > 1, $"Channel {c} reaches down to {lowBefore[c]}: not high enough to prove anything.");
            // The calibrated lower bound moved out: over the calibration samples the channel now starts at 0.
            Assert.True(Math.Abs(lowAfter[c]) < 1e-4, $"channel {c}'s lowest pre-activation is {lowAfter[c]}, not 0");
        }
    }

    /// <summary>The smallest value of each channel (axis <paramref name="axis"/>) of <paramref name="value"/> over the samples.</summary>
    private static double[] ChannelMins(Model model, Value value, IReadOnlyList<IReadOnlyDictionary<string, Tensor>> samples, int axis)
    {
        using var copy = OnnxReader.Read(OnnxWriter.ToBytes(model));
        var inCopy = copy.Graph.AllNodes().SelectMany(n => n.Outputs).First(v => v?.Name == value.Name)!;
        copy.Graph.Outputs.Add(inCopy);
        double[]? mins = null;
        foreach (var feeds in samples)
        {
            var tensor = OnnxQuant.Runtime.ModelRunner.RunOnce(copy, feeds)[value.Name!];
            var data = tensor.ToFloatArray();
            long channels = tensor.Dims[axis], inner = tensor.Dims.Skip(axis + 1).Aggregate(1L, (a, b) => a * b);
            mins ??= Enumerable.Repeat(double.PositiveInfinity, (int)channels).ToArray();
            for (long i = 0; i < data.Length; i++)
            {
                int c = (int)(i / inner % channels);
                mins[c] = Math.Min(mins[c], data[i]);
            }
        }
        return mins!;
    }

    [Fact]
    public void HighBiasAbsorption_DoesNotFire_IntoAPaddedConv()
    {
        var (t, _) = HighBiasPair(conv: true, pad: 1);
        var context = WithCalibration(t);
        t.RunAndCompare(new EqualizePass(), Tolerance, context);
        Assert.Equal(0, context.Counters.GetValueOrDefault("absorbed-channels"));
        Assert.Contains(FusionTestGraph.Reasons(context), r => r.Contains("layer 2 is a Conv with padding", StringComparison.Ordinal));
    }

    [Fact]
    public void HighBiasAbsorption_WithoutData_IsSkipped_AndSaysSo()
    {
        var (t, _) = HighBiasPair(conv: false);
        var context = new PassContext();
        t.RunAndCompare(new EqualizePass(), Tolerance, context);
        Assert.Equal(1, context.Counters.GetValueOrDefault("absorb-no-data"));
        Assert.Contains(FusionTestGraph.Reasons(context), r => r.Contains("no calibration data", StringComparison.Ordinal));
    }

    // ---- What the scales balance: activations (per-channel weights, with data) or weights. ----

    /// <summary>Runs equalize with <paramref name="options"/> and asserts the float outputs agree on the comparison's feeds.</summary>
    private static void RunExactWith(FusionTestGraph t, EqualizeOptions options, PassContext context)
    {
        var feeds = SampleInputs.ForModel(t.Model, seed: 7);
        var before = ModelRunner.RunOnce(t.Model, feeds);
        new EqualizePass().Run(t.Model, options, context);
        FusionTestGraph.AssertClose(before, ModelRunner.RunOnce(t.Model, feeds), Tolerance);
    }

    /// <summary>max |x| per channel (last axis) of <paramref name="value"/> over the samples.</summary>
    private static double[] ChannelAbsMax(Model model, Value value, IReadOnlyList<IReadOnlyDictionary<string, Tensor>> samples)
    {
        using var copy = OnnxReader.Read(OnnxWriter.ToBytes(model));
        var inCopy = copy.Graph.AllNodes().SelectMany(n => n.Outputs).First(v => v?.Name == value.Name)!;
        copy.Graph.Outputs.Add(inCopy);
        double[]? max = null;
        foreach (var feeds in samples)
        {
            var tensor = ModelRunner.RunOnce(copy, feeds)[value.Name!];
            var data = tensor.ToFloatArray();
            int channels = (int)tensor.Dims[^1];
            max ??= new double[channels];
            for (int i = 0; i < data.Length; i++) max[i % channels] = Math.Max(max[i % channels], Math.Abs(data[i]));
        }
        return max!;
    }

    /// <summary>
    /// With data and per-channel weights (insert-qdq's default), each channel of the tensor between the layers and its
    /// row of layer 2 end with the same range √(max|x_i|·r2_i): the activation, not layer 1's weights, is balanced.
    /// </summary>
    [Fact]
    public void WithDataAndPerChannelWeights_BalancesTheTensorBetweenAgainstLayer2sRows_Exactly()
    {
        var (t, _) = HighBiasPair(conv: false);
        var relu = t.Model.Graph.Nodes.Single(n => n.OpType == "Relu").Outputs[0]!;
        relu.Name = "between";
        var layer2 = t.Model.Graph.Nodes.Last(n => n.OpType == "Gemm");
        var samples = new[] { 7, 8, 9 }.Select(seed => (IReadOnlyDictionary<string, Tensor>)SampleInputs.ForModel(t.Model, seed)).ToList();
        var context = WithCalibration(t);

        RunExactWith(t, new EqualizeOptions { AbsorbHighBias = false }, context);

        Assert.Equal(1, context.Counters.GetValueOrDefault("balanced-by-activations"));
        var activation = ChannelAbsMax(t.Model, relu, samples);
        LinearLayer.TryRead(layer2, out var l2);
        var rows = l2!.ReadRows();
        for (int c = 0; c < activation.Length; c++)
        {
            double r2 = Enumerable.Range(0, l2.OutputChannels).Max(o => Math.Abs(rows[o * l2.K + c]));
            if (activation[c] == 0) continue;
            Assert.Equal(activation[c], r2, activation[c] * 1e-3);
        }
        Assert.True(activation.Count(a => a > 0) >= 4, "too few live channels to prove anything");
    }

    /// <summary>
    /// A channel layer 2 does not read (its row of layer 2 is zero) whose activation is 1000× the others': it is shrunk
    /// into the others' range (exact for any scale), instead of staying the tensor's range and leaving the others at zero.
    /// </summary>
    [Fact]
    public void ADeadOutlierChannel_IsShrunkIntoTheOthersRange_Exactly()
    {
        var t = new FusionTestGraph(17);
        var random = new Random(3);
        var w1 = Enumerable.Range(0, 16 * 8).Select(i => (float)(random.NextDouble() - 0.5) * (i % 8 == 0 ? 1000 : 1)).ToArray();
        var w2 = Enumerable.Range(0, 8 * 5).Select(i => i < 5 ? 0f : (float)(random.NextDouble() - 0.5)).ToArray();
        var x = t.Input("x", 3, 16);
        var between = t.Op("Relu", t.Op("Gemm", [x, t.Const(w1, 16, 8), t.Const(new float[8], 8)]));
        between.Name = "between";
        t.Output(t.Op("Gemm", [between, t.Const(w2, 8, 5), t.Const(new float[5], 5)]));
        var samples = new[] { 7, 8, 9 }.Select(seed => (IReadOnlyDictionary<string, Tensor>)SampleInputs.ForModel(t.Model, seed)).ToList();
        var before = ChannelAbsMax(t.Model, between, samples);
        Assert.True(before[0] > 100 * before.Skip(1).Max(), string.Join(", ", before));

        RunExactWith(t, new EqualizeOptions { AbsorbHighBias = false }, WithCalibration(t));

        var after = ChannelAbsMax(t.Model, between, samples);
        Assert.True(after[0] > 0 && after[0] <= after.Skip(1).Max() * 1.001, string.Join(", ", after));
    }

    [Fact]
    public void WithoutData_OrWithBalanceWeights_BalancesWeightRanges_AndSaysSoInTheCounters()
    {
        var (t, _) = HighBiasPair(conv: false);
        var noData = new PassContext();
        RunExactWith(t, new EqualizeOptions(), noData);
        Assert.Equal(1, noData.Counters.GetValueOrDefault("pairs"));
        Assert.Equal(0, noData.Counters.GetValueOrDefault("balanced-by-activations"));

        var (t2, _) = HighBiasPair(conv: false);
        var weights = WithCalibration(t2);
        RunExactWith(t2, new EqualizeOptions { Balance = EqualizeBalance.Weights, AbsorbHighBias = false }, weights);
        Assert.Equal(0, weights.Counters.GetValueOrDefault("balanced-by-activations"));
        // The paper's rule: layer 1's output-channel range equals layer 2's input-channel range.
        var gemms = t2.Model.Graph.Nodes.Where(n => n.OpType == "Gemm").ToList();
        LinearLayer.TryRead(gemms[0], out var l1);
        LinearLayer.TryRead(gemms[1], out var l2);
        var rows1 = l1!.ReadRows();
        var rows2 = l2!.ReadRows();
        for (int c = 0; c < l1.OutputChannels; c++)
        {
            double r1 = Enumerable.Range(0, l1.K).Max(j => Math.Abs(rows1[c * l1.K + j]));
            double r2 = Enumerable.Range(0, l2.OutputChannels).Max(o => Math.Abs(rows2[o * l2.K + c]));
            Assert.Equal(r1, r2, r1 * 1e-3);
        }
    }

    [Fact]
    public void BalanceActivations_WithoutData_IsAOneLineError()
    {
        var (t, _) = HighBiasPair(conv: false);
        var e = Assert.Throws<OnnxQuantException>(() => new EqualizePass().Run(t.Model, new EqualizeOptions { Balance = EqualizeBalance.Activations }, new PassContext()));
        Assert.Contains("balance: activations needs calibration data", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void SharedModel_TaefDecoder_BalancedByActivations_IsExactOnCalibratedData()
    {
        using var model = Cleaned("taef2_decoder.onnx");
        var feeds = SharedModelInputs.For("taef2_decoder.onnx", model, seed: 3);
        var context = new PassContext();
        context.SetAnalysis(new Passes.Calibration.CalibrationSettings
        {
            Samples = new OnnxQuant.Runtime.DataSources.CalibrationSamples([feeds, SharedModelInputs.For("taef2_decoder.onnx", model, seed: 4)]),
        });
        var before = ModelRunner.RunOnce(model, feeds);
        new EqualizePass().Run(model, new EqualizeOptions(), context);
        FusionTestGraph.AssertClose(before, ModelRunner.RunOnce(model, feeds), Tolerance);
        Assert.True(context.Counters.GetValueOrDefault("balanced-by-activations") > 0, "no pair was balanced by activations");
    }

    // ---- Shared models: exact where it fires. ----

    private static Model Cleaned(string file)
    {
        var model = OnnxReader.Read(SharedPaths.Model(file));
        new PassManager(RecipeLoader.LoadFileOrPreset("cleanup").Steps).Run(model, new PassContext());
        return model;
    }

    [Theory]
    [InlineData("taef2_encoder.onnx")]
    [InlineData("taef2_decoder.onnx")]
    [InlineData("ppocr_v4_rec.onnx")]
    public void SharedModel_AfterCleanup_IsExact_AndChangesSomePairs(string file)
    {
        using var model = Cleaned(file);
        var context = new PassContext();
        FusionTestGraph.RunAndCompare(model, new EqualizePass(), Tolerance, SharedModelInputs.For(file, model, seed: 3), context);
        Assert.True(context.Counters.GetValueOrDefault("pairs") > 0, $"equalize changed no layer pair of {file}.");
    }
}
