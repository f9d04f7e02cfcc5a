using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Passes;
using OnnxQuant.Passes.Equivalence;
using OnnxQuant.Passes.LinearLayers;
using OnnxQuant.Passes.Recipes;
using OnnxQuant.Tests.Fusion;
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

    [Fact]
    public void DoesNotFire_AcrossAConcat()
    {
        var t = new FusionTestGraph(17);
        var x = t.Input("x", 1, 4, 8, 8);
        var a = t.Op("Relu", Conv(t, x, Uneven(t, 1, 0, 4, 4, 3, 3), null));
        var joined = t.Op("Concat", [a, x], Attribute.Int("axis", 1));
        t.Output(Conv(t, joined, t.Random(-1, 1, 6, 8, 3, 3), null));

        FusionTestGraph.AssertDoesNotFire(t.Model, new EqualizePass(), "a Concat joins branches");
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
