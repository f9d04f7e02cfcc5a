using OnnxQuant.Ir;
using static OnnxQuant.Tests.Canonicalization.OpsetUpgradeTestKit;
using Attr = OnnxQuant.Ir.Attribute;

namespace OnnxQuant.Tests.Canonicalization;

/// <summary>
/// One before/after check per converter: a node in its old-opset form is built in code, upgraded, and both models run
/// in ONNX Runtime (optimizations off). Rewrites are exact, so outputs must agree to float rounding (1e-6 relative).
/// </summary>
public class OpsetUpgradeConverterTests
{
    private const double Exact = 1e-6;

    private static Dictionary<string, Tensor> Feed(string name, Tensor t) => new() { [name] = t };

    [Fact]
    public void Clip6_MinMaxAttributesBecomeTypedScalarInputs()
    {
        var model = Build(9, g =>
        {
            var x = g.AddInput("x", Float(2, 3, 4));
            g.Outputs.Add(g.Add("Clip", [x], Attr.Float("min", -0.5f), Attr.Float("max", 0.75f)).Output);
        });
        var (upgraded, before, after) = UpgradeAndRun(model, Feed("x", RandomFloats(1, 2, 3, 4)));

        var clip = upgraded.Graph.Nodes.Single(n => n.OpType == "Clip");
        Assert.Empty(clip.Attributes);
        Assert.Equal(3, clip.Inputs.Count);
        Assert.Equal(DataType.Float, clip.Inputs[1]!.Const!.ElementType);
        Assert.Equal(0, clip.Inputs[2]!.Const!.Rank);
        AssertSameOutputs(before, after, Exact);
    }

    [Fact]
    public void Clip6_WithOnlyMax_KeepsMinOmitted()
    {
        var model = Build(9, g =>
        {
            var x = g.AddInput("x", Float(5, 6));
            g.Outputs.Add(g.Add("Clip", [x], Attr.Float("max", 0.25f)).Output);
        });
        var (upgraded, before, after) = UpgradeAndRun(model, Feed("x", RandomFloats(2, 5, 6)));

        var clip = upgraded.Graph.Nodes.Single(n => n.OpType == "Clip");
        Assert.Null(clip.Inputs[1]);
        Assert.NotNull(clip.Inputs[2]);
        AssertSameOutputs(before, after, Exact);
    }

    [Fact]
    public void Clip6_OnAnUntypedValue_UsesCastLikeWhenTheTargetHasIt()
    {
        // The bound's type comes from the Clip input; a custom-domain producer hides it, so CastLike (opset 15) types it.
        var model = Build(9, g =>
        {
            var x = g.AddInput("x", Float(4, 4));
            var relu = g.Add("Relu", [x]);
            g.Outputs.Add(g.Add("Clip", [relu.Output], Attr.Float("min", 0.1f), Attr.Float("max", 0.9f)).Output);
        });
        var (upgraded, before, after) = UpgradeAndRun(model, Feed("x", RandomFloats(3, 4, 4)));

        Assert.Equal(0, Count(upgraded, "CastLike")); // Relu's type is derived from x: plain constants suffice
        AssertSameOutputs(before, after, Exact);
    }

    [Fact]
    public void Slice1_AttributesBecomeInputs_WithNegativeAndHugeBounds()
    {
        var model = Build(9, g =>
        {
            var x = g.AddInput("x", Float(4, 5, 6));
            g.Outputs.Add(g.Add("Slice", [x], Attr.Ints("starts", 1, -4), Attr.Ints("ends", long.MaxValue, -1),
                Attr.Ints("axes", 0, 2)).Output);
        });
        var (upgraded, before, after) = UpgradeAndRun(model, Feed("x", RandomFloats(4, 4, 5, 6)));

        var slice = upgraded.Graph.Nodes.Single(n => n.OpType == "Slice");
        Assert.Empty(slice.Attributes);
        Assert.Equal(4, slice.Inputs.Count);
        AssertSameOutputs(before, after, Exact);
    }

    [Fact]
    public void SqueezeAndUnsqueeze11_AxesBecomeInputs_UnsortedAndNegative()
    {
        var model = Build(11, g =>
        {
            var x = g.AddInput("x", Float(3, 1, 4));
            var squeeze = g.Add("Squeeze", [x], Attr.Ints("axes", -2));
            g.Outputs.Add(g.Add("Unsqueeze", [squeeze.Output], Attr.Ints("axes", 3, 0)).Output);
        });
        var (upgraded, before, after) = UpgradeAndRun(model, Feed("x", RandomFloats(5, 3, 1, 4)));

        Assert.All(upgraded.Graph.Nodes, n => Assert.Null(n.GetAttribute("axes")));
        Assert.Equal([1, 3, 4, 1], after.Values.Single().Dims);
        AssertSameOutputs(before, after, Exact);
    }

    [Fact]
    public void Squeeze11_WithoutAxes_StaysWithoutAxesInput()
    {
        var model = Build(11, g =>
        {
            var x = g.AddInput("x", Float(1, 3, 1));
            g.Outputs.Add(g.Add("Squeeze", [x]).Output);
        });
        var (upgraded, before, after) = UpgradeAndRun(model, Feed("x", RandomFloats(6, 1, 3, 1)));

        Assert.Single(upgraded.Graph.Nodes.Single().Inputs);
        AssertSameOutputs(before, after, Exact);
    }

    [Theory]
    [InlineData("ReduceSum", 11, 13)]
    [InlineData("ReduceSum", 11, 21)]
    [InlineData("ReduceMean", 11, 21)]
    [InlineData("ReduceMax", 17, 18)]
    [InlineData("ReduceL2", 13, 21)]
    [InlineData("ReduceLogSumExp", 13, 21)]
    [InlineData("ReduceSumSquare", 17, 21)]
    public void Reduce_AxesAttributeBecomesInput(string op, int from, int target)
    {
        var model = Build(from, g =>
        {
            var x = g.AddInput("x", Float(3, 4, 5));
            var kept = g.Add(op, [x], Attr.Ints("axes", -1, 0));
            var dropped = g.Append(new Node(op, [x], 1, "", [Attr.Ints("axes", 1), Attr.Int("keepdims", 0)], "dropped"));
            g.Outputs.Add(kept.Output);
            g.Outputs.Add(dropped.Output);
        });
        var (upgraded, before, after) = UpgradeAndRun(model, Feed("x", RandomFloats(7, 3, 4, 5)), target);

        Assert.All(upgraded.Graph.Nodes, n => Assert.Equal(2, n.Inputs.Count));
        AssertSameOutputs(before, after, Exact, op);
    }

    [Fact]
    public void ReduceMean17_WithoutAxes_StillReducesEverything()
    {
        var model = Build(17, g =>
        {
            var x = g.AddInput("x", Float(3, 4));
            g.Outputs.Add(g.Add("ReduceMean", [x], Attr.Int("keepdims", 0)).Output);
        });
        var (upgraded, before, after) = UpgradeAndRun(model, Feed("x", RandomFloats(8, 3, 4)));

        Assert.Single(upgraded.Graph.Nodes.Single().Inputs);
        AssertSameOutputs(before, after, Exact);
    }

    [Fact]
    public void Split11_SplitAttributeBecomesInput()
    {
        var model = Build(11, g =>
        {
            var x = g.AddInput("x", Float(2, 7));
            var split = g.Append(new Node("Split", [x], 3, "", [Attr.Int("axis", 1), Attr.Ints("split", 2, 4, 1)], "split"));
            foreach (var o in split.Outputs) g.Outputs.Add(o!);
        });
        var (upgraded, before, after) = UpgradeAndRun(model, Feed("x", RandomFloats(9, 2, 7)));

        var node = upgraded.Graph.Nodes.Single();
        Assert.Null(node.GetAttribute("split"));
        Assert.Equal([2L, 4, 1], node.Inputs[1]!.Const!.AsSpan<long>().ToArray());
        AssertSameOutputs(before, after, Exact);
    }

    [Fact]
    public void Split11_EqualParts_GetsNumOutputsAtOpset18()
    {
        var model = Build(11, g =>
        {
            var x = g.AddInput("x", Float(6, 2));
            var split = g.Append(new Node("Split", [x], 3, "", [], "split"));
            foreach (var o in split.Outputs) g.Outputs.Add(o!);
        });
        var (upgraded, before, after) = UpgradeAndRun(model, Feed("x", RandomFloats(10, 6, 2)));

        Assert.Equal(3, upgraded.Graph.Nodes.Single().GetInt("num_outputs", 0));
        AssertSameOutputs(before, after, Exact);
    }

    [Theory]
    [InlineData("constant", 1.5f)]
    [InlineData("constant", 0f)]
    [InlineData("reflect", 0f)]
    [InlineData("edge", 0f)]
    public void Pad2_PadsAndValueBecomeInputs(string mode, float value)
    {
        var model = Build(9, g =>
        {
            var x = g.AddInput("x", Float(1, 2, 4, 5));
            g.Outputs.Add(g.Add("Pad", [x], Attr.String("mode", mode), Attr.Ints("pads", 0, 0, 1, 2, 0, 0, 2, 1),
                Attr.Float("value", value)).Output);
        });
        var (upgraded, before, after) = UpgradeAndRun(model, Feed("x", RandomFloats(11, 1, 2, 4, 5)));

        var pad = upgraded.Graph.Nodes.Single();
        Assert.Null(pad.GetAttribute("pads"));
        Assert.Equal(value != 0 ? 3 : 2, pad.Inputs.Count);
        AssertSameOutputs(before, after, Exact, mode);
    }

    [Theory]
    [InlineData(7, "nearest")]
    [InlineData(7, "linear")]
    [InlineData(9, "nearest")]
    [InlineData(9, "linear")]
    public void Upsample_BecomesResizeWithAsymmetricMapping(int opset, string mode)
    {
        var model = Build(opset, g =>
        {
            var x = g.AddInput("x", Float(1, 2, 3, 4));
            var inputs = opset >= 9 ? new Value?[] { x, g.AddConstant(Tensor.FromFloats([1f, 1f, 2f, 3f], 4), "scales") } : [x];
            var attrs = opset >= 9
                ? new[] { Attr.String("mode", mode) }
                : new[] { Attr.String("mode", mode), Attr.Floats("scales", 1f, 1f, 2f, 3f) };
            g.Outputs.Add(g.Add("Upsample", inputs, attrs).Output);
        });
        var (upgraded, before, after) = UpgradeAndRun(model, Feed("x", RandomFloats(12, 1, 2, 3, 4)));

        var resize = upgraded.Graph.Nodes.Single();
        Assert.Equal("Resize", resize.OpType);
        Assert.Equal("asymmetric", resize.GetString("coordinate_transformation_mode", ""));
        Assert.Equal([1, 2, 6, 12], after.Values.Single().Dims);
        AssertSameOutputs(before, after, Exact, mode);
    }

    [Theory]
    [InlineData("nearest", new[] { 1f, 1f, 2f, 1.5f })]
    [InlineData("nearest", new[] { 1f, 1f, 0.5f, 0.6f })]
    [InlineData("linear", new[] { 1f, 1f, 2f, 1.5f })]
    [InlineData("linear", new[] { 1f, 1f, 0.5f, 0.75f })]
    public void Resize10_GetsRoiAndTheOpset10Rounding(string mode, float[] scales)
    {
        var model = Build(10, g =>
        {
            var x = g.AddInput("x", Float(1, 2, 5, 7));
            var s = g.AddConstant(Tensor.FromFloats(scales, 4), "scales");
            g.Outputs.Add(g.Add("Resize", [x, s], Attr.String("mode", mode)).Output);
        });
        var (upgraded, before, after) = UpgradeAndRun(model, Feed("x", RandomFloats(13, 1, 2, 5, 7)));

        var resize = upgraded.Graph.Nodes.Single();
        Assert.Equal(3, resize.Inputs.Count);
        if (mode == "nearest")
            Assert.Equal(scales.Any(s => s < 1) ? "ceil" : "floor", resize.GetString("nearest_mode", ""));
        AssertSameOutputs(before, after, Exact, $"{mode} {string.Join(",", scales)}");
    }

    [Fact]
    public void Resize11_WithSizes_DropsThePlaceholderScalesAtOpset13()
    {
        var model = Build(11, g =>
        {
            var x = g.AddInput("x", Float(1, 1, 4, 4));
            var roi = g.AddConstant(Tensor.FromFloats([], 0), "roi");
            var scales = g.AddConstant(Tensor.FromFloats([], 0), "scales");
            var sizes = g.AddConstant(Tensor.FromInt64s([1, 1, 6, 3], 4), "sizes");
            g.Outputs.Add(g.Add("Resize", [x, roi, scales, sizes], Attr.String("mode", "linear")).Output);
        });
        var (upgraded, before, after) = UpgradeAndRun(model, Feed("x", RandomFloats(14, 1, 1, 4, 4)));

        var resize = upgraded.Graph.Nodes.Single();
        Assert.Null(resize.Inputs[1]);
        Assert.Null(resize.Inputs[2]);
        AssertSameOutputs(before, after, Exact);
    }

    /// <summary>Resize-11 in its own form needs nothing through 13, 18 and 19 (new attributes default to the old behaviour).</summary>
    [Theory]
    [InlineData("linear", "half_pixel")]
    [InlineData("cubic", "pytorch_half_pixel")]
    [InlineData("nearest", "align_corners")]
    public void Resize11_KeepsItsMeaningThroughLaterVersions(string mode, string coordinates)
    {
        var model = Build(11, g =>
        {
            var x = g.AddInput("x", Float(1, 2, 5, 6));
            var roi = g.AddConstant(Tensor.FromFloats([], 0), "roi");
            var scales = g.AddConstant(Tensor.FromFloats([1f, 1f, 1.6f, 0.5f], 4), "scales");
            g.Outputs.Add(g.Add("Resize", [x, roi, scales], Attr.String("mode", mode),
                Attr.String("coordinate_transformation_mode", coordinates)).Output);
        });
        var (upgraded, before, after) = UpgradeAndRun(model, Feed("x", RandomFloats(30, 1, 2, 5, 6)));

        var resize = upgraded.Graph.Nodes.Single();
        Assert.Null(resize.Inputs[1]); // the empty roi placeholder is omitted from opset 13 on
        AssertSameOutputs(before, after, Exact, $"{mode} {coordinates}");
    }

    /// <summary>The interesting case: before 13, Softmax(axis=1) on [2,3,4] normalizes over 12 values per batch row.</summary>
    [Theory]
    [InlineData("Softmax")]
    [InlineData("LogSoftmax")]
    [InlineData("Hardmax")]
    public void SoftmaxFamily11_AxisOneOnRank3_FlattensThenRestoresTheShape(string op)
    {
        var model = Build(11, g =>
        {
            var x = g.AddInput("x", Float(2, 3, 4));
            g.Outputs.Add(g.Add(op, [x], Attr.Int("axis", 1)).Output);
        });
        string outputName = model.Graph.Outputs.Single().Name!;
        var (upgraded, before, after) = UpgradeAndRun(model, Feed("x", RandomFloats(15, 2, 3, 4)));

        Assert.Equal(["Flatten", "Shape", op, "Reshape"], upgraded.Graph.Nodes.Select(n => n.OpType));
        Assert.Equal(-1, upgraded.Graph.Nodes.Single(n => n.OpType == op).GetInt("axis", 0));
        Assert.Equal(outputName, upgraded.Graph.Outputs.Single().Name);
        AssertSameOutputs(before, after, Exact, op);
    }

    [Fact]
    public void Softmax11_DefaultAxisOnRank4_FlattensFromAxisOne()
    {
        var model = Build(11, g =>
        {
            var x = g.AddInput("x", Float(2, 3, 2, 2));
            g.Outputs.Add(g.Add("Softmax", [x]).Output);
        });
        var (upgraded, before, after) = UpgradeAndRun(model, Feed("x", RandomFloats(16, 2, 3, 2, 2)));

        Assert.Equal(1, Count(upgraded, "Flatten"));
        AssertSameOutputs(before, after, Exact);
    }

    [Fact]
    public void Softmax9_OnTheLastAxis_OnlyWritesTheAxisOut()
    {
        var model = Build(9, g =>
        {
            var x = g.AddInput("x", Float(2, 3, 4));
            var t = g.Add("Transpose", [x], Attr.Ints("perm", 0, 2, 1)); // rank derived through the producer
            g.Outputs.Add(g.Add("Softmax", [t.Output], Attr.Int("axis", 2)).Output);
        });
        var (upgraded, before, after) = UpgradeAndRun(model, Feed("x", RandomFloats(17, 2, 3, 4)));

        Assert.Equal(["Transpose", "Softmax"], upgraded.Graph.Nodes.Select(n => n.OpType));
        Assert.Equal(2, upgraded.Graph.Nodes.Last().GetInt("axis", 0));
        AssertSameOutputs(before, after, Exact);
    }

    [Fact]
    public void Softmax11_OfUnknownRank_TakesTheGeneralPath()
    {
        var model = Build(11, g =>
        {
            var x = g.AddInput("x", new TensorType(DataType.Float));
            g.Outputs.Add(g.Add("Softmax", [x], Attr.Int("axis", -1)).Output);
        });
        var (upgraded, before, after) = UpgradeAndRun(model, Feed("x", RandomFloats(18, 3, 2, 5)));

        Assert.Equal(1, Count(upgraded, "Flatten"));
        AssertSameOutputs(before, after, Exact);
    }

    [Fact]
    public void BatchNormalization7_SpatialAttributeIsDropped()
    {
        var model = Build(7, g =>
        {
            var x = g.AddInput("x", Float(2, 3, 4, 4));
            var scale = g.AddConstant(Tensor.FromFloats([1.5f, 0.5f, 2f], 3), "scale");
            var bias = g.AddConstant(Tensor.FromFloats([0.1f, -0.2f, 0.3f], 3), "bias");
            var mean = g.AddConstant(Tensor.FromFloats([0.2f, 0f, -0.1f], 3), "mean");
            var var_ = g.AddConstant(Tensor.FromFloats([1f, 0.25f, 4f], 3), "var");
            g.Outputs.Add(g.Add("BatchNormalization", [x, scale, bias, mean, var_], Attr.Int("spatial", 1),
                Attr.Float("epsilon", 1e-3f)).Output);
        }, irVersion: 3);
        var (upgraded, before, after) = UpgradeAndRun(model, Feed("x", RandomFloats(19, 2, 3, 4, 4)));

        Assert.Null(upgraded.Graph.Nodes.Single().GetAttribute("spatial"));
        AssertSameOutputs(before, after, Exact);
    }

    [Fact]
    public void BatchNormalization9_WithTrainingOutputs_BecomesTrainingModeWithThreeOutputs()
    {
        var model = Build(9, g =>
        {
            var x = g.AddInput("x", Float(1, 2, 3));
            var p = Tensor.FromFloats([1f, 2f], 2);
            var inputs = new[] { "scale", "bias", "mean", "var" }.Select(n => (Value?)g.AddConstant(p, n));
            var bn = g.Append(new Node("BatchNormalization", [x, .. inputs], 5, "", [], "bn"));
            g.Outputs.Add(bn.Outputs[0]!);
            g.Outputs.Add(bn.Outputs[1]!); // the updated running mean
        });
        var (upgraded, before, after) = UpgradeAndRun(model, Feed("x", RandomFloats(20, 1, 2, 3)));

        var bn = upgraded.Graph.Nodes.Single();
        Assert.Equal(3, bn.Outputs.Count);
        Assert.Equal(1, bn.GetInt("training_mode", 0));
        Assert.Equal("bn", bn.Name);
        AssertSameOutputs(before, after, Exact);
    }

    [Fact]
    public void Dropout7_RatioAttributeBecomesInput_AndStaysTheIdentity()
    {
        var model = Build(7, g =>
        {
            var x = g.AddInput("x", Float(3, 4));
            var dropout = g.Add("Dropout", [x], Attr.Float("ratio", 0.3f));
            g.Outputs.Add(g.Add("Relu", [dropout.Output]).Output);
        }, irVersion: 3);
        var (upgraded, before, after) = UpgradeAndRun(model, Feed("x", RandomFloats(21, 3, 4)));

        var dropout = upgraded.Graph.Nodes.First();
        Assert.Null(dropout.GetAttribute("ratio"));
        Assert.Equal(0.3f, dropout.Inputs[1]!.Const!.AsSpan<float>()[0]);
        AssertSameOutputs(before, after, Exact);
    }

    [Fact]
    public void TopK9_KAttributeBecomesInput()
    {
        var model = Build(9, g =>
        {
            var x = g.AddInput("x", Float(2, 6));
            var topk = g.Append(new Node("TopK", [x], 2, "", [Attr.Int("k", 3)], "topk"));
            g.Outputs.Add(topk.Outputs[0]!);
            g.Outputs.Add(topk.Outputs[1]!);
        });
        var (upgraded, before, after) = UpgradeAndRun(model, Feed("x", RandomFloats(22, 2, 6)));

        Assert.Equal([3L], upgraded.Graph.Nodes.Single().Inputs[1]!.Const!.AsSpan<long>().ToArray());
        AssertSameOutputs(before, after, Exact);
    }

    [Fact]
    public void Scatter9_BecomesScatterElements()
    {
        var model = Build(9, g =>
        {
            var x = g.AddInput("x", Float(3, 3));
            var indices = g.AddConstant(Tensor.FromInt64s([1, 0, 2, 0, 2, 1], 2, 3), "indices");
            var updates = g.AddConstant(Tensor.FromFloats([1f, 2f, 3f, 4f, 5f, 6f], 2, 3), "updates");
            g.Outputs.Add(g.Add("Scatter", [x, indices, updates], Attr.Int("axis", 0)).Output);
        });
        var (upgraded, before, after) = UpgradeAndRun(model, Feed("x", RandomFloats(23, 3, 3)));

        Assert.Equal("ScatterElements", upgraded.Graph.Nodes.Single().OpType);
        AssertSameOutputs(before, after, Exact);
    }

    [Fact]
    public void RoiAlign10_KeepsItsCoordinateMappingAtOpset16()
    {
        var model = Build(10, g =>
        {
            var x = g.AddInput("x", Float(1, 2, 8, 8));
            var rois = g.AddConstant(Tensor.FromFloats([0.5f, 1.25f, 6.5f, 5f, 2f, 0f, 7.5f, 7.5f], 2, 4), "rois");
            var batch = g.AddConstant(Tensor.FromInt64s([0, 0], 2), "batch");
            g.Outputs.Add(g.Add("RoiAlign", [x, rois, batch], Attr.Int("output_height", 3), Attr.Int("output_width", 2),
                Attr.Int("sampling_ratio", 2), Attr.Float("spatial_scale", 1f)).Output);
        });
        var (upgraded, before, after) = UpgradeAndRun(model, Feed("x", RandomFloats(24, 1, 2, 8, 8)));

        Assert.Equal("output_half_pixel", upgraded.Graph.Nodes.Single().GetString("coordinate_transformation_mode", ""));
        AssertSameOutputs(before, after, Exact);
    }

    [Theory]
    [InlineData("bilinear")]
    [InlineData("nearest")]
    public void GridSample16_ModesAreRenamedAtOpset20(string mode)
    {
        var model = Build(16, g =>
        {
            var x = g.AddInput("x", Float(1, 1, 4, 4));
            var grid = g.AddConstant(RandomFloats(25, 1, 3, 2, 2).Reshape([1, 3, 2, 2]), "grid");
            g.Outputs.Add(g.Add("GridSample", [x, grid], Attr.String("mode", mode), Attr.Int("align_corners", 0)).Output);
        }, irVersion: 8);
        var (upgraded, before, after) = UpgradeAndRun(model, Feed("x", RandomFloats(26, 1, 1, 4, 4)));

        Assert.Equal(mode == "bilinear" ? "linear" : mode, upgraded.Graph.Nodes.Single().GetString("mode", ""));
        AssertSameOutputs(before, after, Exact, mode);
    }

    [Fact]
    public void Dft17_AxisAttributeBecomesInput()
    {
        var model = Build(17, g =>
        {
            var x = g.AddInput("x", Float(2, 8, 1));
            g.Outputs.Add(g.Add("DFT", [x], Attr.Int("axis", 1)).Output);
        }, irVersion: 8);
        var (upgraded, before, after) = UpgradeAndRun(model, Feed("x", RandomFloats(27, 2, 8, 1)));

        var dft = upgraded.Graph.Nodes.Single();
        Assert.Null(dft.GetAttribute("axis"));
        Assert.Equal(3, dft.Inputs.Count);
        AssertSameOutputs(before, after, 1e-5);
    }

    [Fact]
    public void ConvTranspose9_WithExplicitPads_IsKept()
    {
        var model = Build(9, g =>
        {
            var x = g.AddInput("x", Float(1, 2, 3, 3));
            var w = g.AddConstant(RandomFloats(28, 2, 1, 3, 3), "w");
            g.Outputs.Add(g.Add("ConvTranspose", [x, w], Attr.Ints("strides", 2, 2), Attr.Ints("pads", 1, 0, 0, 1),
                Attr.Ints("output_padding", 1, 0)).Output);
        });
        var (_, before, after) = UpgradeAndRun(model, Feed("x", RandomFloats(29, 1, 2, 3, 3)));
        AssertSameOutputs(before, after, Exact);
    }

    /// <summary>Ops whose changes only widened types keep their form: Cast, Gather (negative indices), Flatten (axis 0).</summary>
    [Fact]
    public void CastGatherFlatten9_AreKeptAsTheyAre()
    {
        var model = Build(9, g =>
        {
            var x = g.AddInput("x", Float(4, 3, 2));
            var indices = g.AddConstant(Tensor.FromInt64s([-1, 0, -3], 3), "indices");
            var gather = g.Add("Gather", [x, indices], Attr.Int("axis", 1));
            var flatten = g.Add("Flatten", [gather.Output], Attr.Int("axis", 0));
            g.Outputs.Add(g.Add("Cast", [flatten.Output], Attr.Int("to", (long)DataType.Int32)).Output);
        });
        var feeds = Feed("x", Tensor.FromFloats(Enumerable.Range(0, 24).Select(i => i * 0.75f - 7f).ToArray(), 4, 3, 2));
        var (upgraded, before, after) = UpgradeAndRun(model, feeds);

        Assert.Equal(["Gather", "Flatten", "Cast"], upgraded.Graph.Nodes.Select(n => n.OpType));
        Assert.Equal(DataType.Int32, after.Values.Single().ElementType);
        AssertSameOutputs(before, after, 0);
    }

    [Fact]
    public void GroupNormalization18_ScaleAndBiasBecomePerChannel()
    {
        var model = Build(18, g =>
        {
            var x = g.AddInput("x", Float(2, 6, 3));
            var scale = g.AddConstant(Tensor.FromFloats([0.5f, 2f, -1f], 3), "scale");
            var bias = g.AddConstant(Tensor.FromFloats([0.1f, 0f, 0.3f], 3), "bias");
            g.Outputs.Add(g.Add("GroupNormalization", [x, scale, bias], Attr.Int("num_groups", 3)).Output);
        }, irVersion: 8);

        var feeds = new Dictionary<string, Tensor> { ["x"] = RandomFloats(6, 2, 6, 3) };
        var (upgraded, before, after) = UpgradeAndRun(model, feeds);

        var norm = upgraded.Graph.Nodes.Single(n => n.OpType == "GroupNormalization");
        Assert.Equal((long)DataType.Float, norm.GetInt("stash_type", 0));
        Assert.Equal(2, Count(upgraded, "Expand"));
        AssertSameOutputs(before, after, 1e-5);
        Assert.Equal([2L, 6, 3], after.Values.Single().Dims);
    }
}
