using OnnxQuant.Ir;
using OnnxQuant.Passes;
using OnnxQuant.Passes.Canonicalization;
using OnnxQuant.Passes.Recipes;
using static OnnxQuant.Tests.Canonicalization.OpsetUpgradeTestKit;
using Attr = OnnxQuant.Ir.Attribute;

namespace OnnxQuant.Tests.Canonicalization;

/// <summary>What the pass does around the converters: versions, refusals, subgraphs, functions, other domains.</summary>
public class OpsetUpgradeBehaviourTests
{
    private static Model SmallModel(int opset, long irVersion = 4) => Build(opset, g =>
    {
        var x = g.AddInput("x", Float(2, 3));
        g.Outputs.Add(g.Add("Relu", [x]).Output);
    }, irVersion);

    private static PassResult Upgrade(Model model, int target, PassContext? context = null) =>
        new UpgradeOpsetPass().Run(model, new UpgradeOpsetOptions { TargetOpset = target }, context ?? new PassContext());

    [Fact]
    public void NeverDowngrades_AModelAboveTheTargetIsLeftAlone()
    {
        var model = SmallModel(17, irVersion: 8);
        var context = new PassContext();

        var result = Upgrade(model, 13, context);

        Assert.False(result.Modified);
        Assert.Equal(17, model.GetOpset(""));
        Assert.Equal(8, model.IrVersion);
        Assert.Equal(1, context.Counters["newer-than-target"]);
    }

    [Fact]
    public void DoesNothing_WhenTheModelIsAlreadyAtTheTarget()
    {
        var model = SmallModel(21, irVersion: 10);
        Assert.False(Upgrade(model, 21).Modified);
    }

    [Fact]
    public void SecondRun_ReportsNoChange()
    {
        var model = Build(9, g =>
        {
            var x = g.AddInput("x", Float(2, 3, 4));
            var clip = g.Add("Clip", [x], Attr.Float("min", 0f));
            g.Outputs.Add(g.Add("Softmax", [clip.Output]).Output);
        });
        Assert.True(Upgrade(model, 21).Modified);
        int nodes = model.Graph.NodeCount;

        Assert.False(Upgrade(model, 21).Modified);
        Assert.Equal(nodes, model.Graph.NodeCount);
    }

    [Fact]
    public void RaisesTheIrVersion_ToWhatTheTargetOpsetNeeds()
    {
        var model = SmallModel(9, irVersion: 4);
        Upgrade(model, 21);
        Assert.Equal(10, model.IrVersion);
    }

    [Fact]
    public void KeepsANewerIrVersion()
    {
        var model = SmallModel(17, irVersion: 12);
        Upgrade(model, 21);
        Assert.Equal(12, model.IrVersion);
    }

    [Theory]
    [InlineData(24)]
    [InlineData(6)]
    public void RefusesTargetsOutsideTheKnownRange(int target)
    {
        var error = Assert.Throws<OnnxQuantException>(() => Upgrade(SmallModel(9), target));
        Assert.Contains($"target opset {target}", error.Message);
    }

    [Fact]
    public void UnknownOp_IsAnErrorNamingTheNode_AndNothingIsModified()
    {
        var model = Build(9, g =>
        {
            var x = g.AddInput("x", Float(2, 3));
            var clip = g.Add("Clip", [x], Attr.Float("min", 0f));
            var odd = g.Append(new Node("ImageScaler", [clip.Output], 1, "", [], "legacy_scaler"));
            g.Outputs.Add(odd.Output);
        });

        var error = Assert.Throws<OnnxQuantException>(() => Upgrade(model, 21));

        Assert.Contains("ImageScaler 'legacy_scaler'", error.Message);
        Assert.Contains("from opset 9 to 21", error.Message);
        Assert.Equal(9, model.GetOpset(""));
        Assert.NotNull(model.Graph.FirstNode!.GetAttribute("min"));
    }

    [Fact]
    public void ChangeWithoutConverter_IsAnErrorNamingTheNodeAndTheChange()
    {
        // Scan-8 carries a batch axis that Scan-9 dropped; no converter handles that.
        var model = Build(8, g =>
        {
            var x = g.AddInput("x", Float(1, 4, 2));
            var body = new Graph();
            var scan = g.Append(new Node("Scan", [null, x], 1, "", [Attr.FromGraph("body", body), Attr.Int("num_scan_inputs", 1)],
                "old_scan"));
            var item = body.AddInput("item", Float(2));
            body.Outputs.Add(body.Add("Relu", [item]).Output);
            g.Outputs.Add(scan.Output);
        }, irVersion: 3);

        var error = Assert.Throws<OnnxQuantException>(() => Upgrade(model, 21));

        Assert.Contains("Scan 'old_scan'", error.Message);
        Assert.Contains("changed at opset 9", error.Message);
        Assert.Contains("batch dimension", error.Message);
    }

    [Fact]
    public void OpThatDoesNotExistAtTheModelsOpset_IsAnError()
    {
        var model = Build(9, g =>
        {
            var x = g.AddInput("x", Float(2, 3));
            g.Outputs.Add(g.Add("HardSwish", [x]).Output);
        });
        var error = Assert.Throws<OnnxQuantException>(() => Upgrade(model, 21));
        Assert.Contains("does not exist at opset 9", error.Message);
    }

    [Fact]
    public void BatchNormalizationWithSpatialZero_IsRefused()
    {
        var model = Build(7, g =>
        {
            var x = g.AddInput("x", Float(1, 2, 3));
            var p = Tensor.FromFloats([1f, 1f, 1f, 1f, 1f, 1f], 2, 3);
            var inputs = new[] { "scale", "bias", "mean", "var" }.Select(n => (Value?)g.AddConstant(p, n));
            g.Outputs.Add(g.Add("BatchNormalization", [x, .. inputs], Attr.Int("spatial", 0)).Output);
        }, irVersion: 3);
        var error = Assert.Throws<OnnxQuantException>(() => Upgrade(model, 21));
        Assert.Contains("spatial=0", error.Message);
        Assert.Contains("BatchNormalization 'batchnormalization'", error.Message);
    }

    [Fact]
    public void Resize10NearestWithRuntimeScales_IsRefused_BeforeAnythingIsModified()
    {
        var model = Build(10, g =>
        {
            var x = g.AddInput("x", Float(1, 1, 2, 2));
            var clip = g.Add("Clip", [x], Attr.Float("min", 0f));
            var scales = g.AddInput("scales", new TensorType(DataType.Float, new Shape(4)));
            g.Outputs.Add(g.Add("Resize", [clip.Output, scales], Attr.String("mode", "nearest")).Output);
        });
        var error = Assert.Throws<OnnxQuantException>(() => Upgrade(model, 21));
        Assert.Contains("Resize 'resize'", error.Message);
        Assert.Contains("computed at run time", error.Message);
        Assert.Contains("changed at opset 11", error.Message);
        Assert.Equal(10, model.GetOpset(""));
        Assert.NotNull(model.Graph.FirstNode!.GetAttribute("min"));
        Assert.Equal(2, model.Graph.LastNode!.Inputs.Count);
    }

    [Fact]
    public void Resize10NearestMixingGrowingAndShrinkingAxes_IsRefused()
    {
        var model = Build(10, g =>
        {
            var x = g.AddInput("x", Float(1, 1, 4, 4));
            var scales = g.AddConstant(Tensor.FromFloats([1f, 1f, 2f, 0.5f], 4), "scales");
            g.Outputs.Add(g.Add("Resize", [x, scales]).Output);
        });
        var error = Assert.Throws<OnnxQuantException>(() => Upgrade(model, 21));
        Assert.Contains("both enlarge and shrink", error.Message);
    }

    [Fact]
    public void DropoutWhoseMaskIsUsed_IsRefused()
    {
        var model = Build(7, g =>
        {
            var x = g.AddInput("x", Float(2, 2));
            var dropout = g.Append(new Node("Dropout", [x], 2, "", [], "drop"));
            g.Outputs.Add(dropout.Outputs[0]!);
            g.Outputs.Add(dropout.Outputs[1]!);
        }, irVersion: 3);
        var error = Assert.Throws<OnnxQuantException>(() => Upgrade(model, 21));
        Assert.Contains("mask", error.Message);
    }

    [Fact]
    public void ConvTransposeWithSamePadding_IsRefused()
    {
        var model = Build(9, g =>
        {
            var x = g.AddInput("x", Float(1, 1, 3, 3));
            var w = g.AddConstant(RandomFloats(1, 1, 1, 2, 2), "w");
            g.Outputs.Add(g.Add("ConvTranspose", [x, w], Attr.String("auto_pad", "SAME_UPPER"), Attr.Ints("strides", 2, 2)).Output);
        });
        var error = Assert.Throws<OnnxQuantException>(() => Upgrade(model, 21));
        Assert.Contains("auto_pad=SAME_UPPER", error.Message);
    }

    [Fact]
    public void PartialUpgrade_StopsBeforeTheNextBreakingChange()
    {
        var model = Build(9, g =>
        {
            var x = g.AddInput("x", Float(2, 3, 4));
            var clip = g.Add("Clip", [x], Attr.Float("max", 0.5f));
            g.Outputs.Add(g.Add("ReduceSum", [clip.Output], Attr.Ints("axes", 1)).Output);
        });
        var feeds = new Dictionary<string, Tensor> { ["x"] = RandomFloats(3, 2, 3, 4) };
        var (upgraded, before, after) = UpgradeAndRun(model, feeds, target: 12);

        Assert.Equal(3, upgraded.Graph.FirstNode!.Inputs.Count);              // Clip converted at 11
        Assert.NotNull(upgraded.Graph.LastNode!.GetAttribute("axes"));         // ReduceSum changes only at 13
        Assert.Equal(7, upgraded.IrVersion);
        AssertSameOutputs(before, after, 1e-6);
    }

    [Fact]
    public void IfBranches_AreConvertedWithTheModel()
    {
        var model = Build(9, g =>
        {
            var x = g.AddInput("x", Float(2, 3, 4));
            var cond = g.AddInput("cond", new TensorType(DataType.Bool, new Shape()));
            var thenBranch = new Graph { Name = "then" };
            var elseBranch = new Graph { Name = "else" };
            var @if = g.Append(new Node("If", [cond], 1, "", [Attr.FromGraph("then_branch", thenBranch),
                Attr.FromGraph("else_branch", elseBranch)], "branch"));
            var clip = thenBranch.Add("Clip", [x], Attr.Float("min", -0.25f), Attr.Float("max", 0.25f));
            clip.Output.Type = Float(2, 3, 4);
            thenBranch.Outputs.Add(clip.Output);
            var softmax = elseBranch.Add("Softmax", [x], Attr.Int("axis", 1));
            softmax.Output.Type = Float(2, 3, 4);
            elseBranch.Outputs.Add(softmax.Output);
            g.Outputs.Add(@if.Output);
        });

        foreach (bool branch in new[] { true, false })
        {
            var feeds = new Dictionary<string, Tensor>
            {
                ["x"] = RandomFloats(4, 2, 3, 4),
                ["cond"] = Tensor.FromRaw(DataType.Bool, [], new byte[] { (byte)(branch ? 1 : 0) }),
            };
            var (upgraded, before, after) = UpgradeAndRun(model, feeds);
            Assert.Equal(1, Count(upgraded, "Flatten"));
            Assert.Empty(upgraded.AllGraphs().SelectMany(gr => gr.Nodes).Single(n => n.OpType == "Clip").Attributes);
            AssertSameOutputs(before, after, 1e-6, branch ? "then" : "else");
        }
    }

    [Fact]
    public void OtherDomains_AreUntouched()
    {
        var model = Build(11, g =>
        {
            var x = g.AddInput("x", Float(2, 8));
            var gelu = g.Append(new Node("Gelu", [x], 1, "com.microsoft", [], "ms_gelu"));
            g.Outputs.Add(g.Add("Unsqueeze", [gelu.Output], Attr.Ints("axes", 0)).Output);
        });
        model.OpsetImports.Add(new OpsetImport("com.microsoft", 1));
        var feeds = new Dictionary<string, Tensor> { ["x"] = RandomFloats(5, 2, 8) };
        var (upgraded, before, after) = UpgradeAndRun(model, feeds);

        var gelu = upgraded.Graph.Nodes.Single(n => n.OpType == "Gelu");
        Assert.Equal("com.microsoft", gelu.Domain);
        Assert.Single(gelu.Inputs);
        Assert.Equal(1, upgraded.GetOpset("com.microsoft"));
        AssertSameOutputs(before, after, 1e-6);
    }

    [Fact]
    public void ModelLocalFunctions_KeepTheirOwnOpsetImports_AndAreReported()
    {
        var model = Build(11, g =>
        {
            var x = g.AddInput("x", Float(3, 2));
            var call = g.Append(new Node("ReluTwice", [x], 1, "local", [], "call"));
            g.Outputs.Add(g.Add("Softmax", [call.Output]).Output);
        });
        model.OpsetImports.Add(new OpsetImport("local", 1));
        var body = new Graph();
        var input = body.AddInput("in", null);
        var first = body.Append(new Node("Relu", [input], 1, "", [], "first"));
        var second = body.Append(new Node("Relu", [first.Output], 1, "", [], "second"));
        body.Outputs.Add(second.Output);
        var function = new Function("ReluTwice", "local", body);
        function.OpsetImports.Add(new OpsetImport("", 11));
        model.Functions.Add(function);
        var context = new PassContext();
        var feeds = new Dictionary<string, Tensor> { ["x"] = RandomFloats(7, 3, 2) };

        var (upgraded, before, after) = UpgradeAndRun(model, feeds, context: context);

        Assert.Equal(11, upgraded.Functions.Single().OpsetImports.Single().Version);
        Assert.Equal(1, context.Counters["functions-not-converted"]);
        AssertSameOutputs(before, after, 1e-6);
    }

    [Fact]
    public void IsRegistered_AndARecipeSetsTheTargetOpset()
    {
        var recipe = RecipeLoader.Parse("name: up\npasses:\n  - upgrade-opset:\n      target-opset: 13\n", "up.yaml");

        var step = recipe.Passes.Single();
        Assert.IsType<UpgradeOpsetPass>(step.Pass);
        Assert.Equal(13, ((UpgradeOpsetOptions)step.Options).TargetOpset);
    }
}
