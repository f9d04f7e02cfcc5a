using OnnxQuant.Ir;
using OnnxQuant.Ir.Building;
using OnnxQuant.Passes;
using OnnxQuant.Runtime.Evaluation;
using OnnxQuant.Passes.Quantization;
using OnnxQuant.Passes.Recipes;
using OnnxQuant.Tests.Support;
using static OnnxQuant.Tests.Quantization.QdqTestKit;

namespace OnnxQuant.Tests.Quantization;

public class QdqOverrideTests
{
    private const int M = 4, K = 32, N = 8;

    /// <summary>Two independent MatMuls, "blk.attn.q" (x1 · w1) and "blk.mlp.fc" (x2 · w2), and their float outputs.</summary>
    private static (Model Model, Dictionary<string, Tensor> Feeds, IReadOnlyDictionary<string, Tensor> Float) TwoMatMuls(long opset = 21)
    {
        var b = new GraphBuilder(opset: opset);
        var x1 = b.Input("x1", DataType.Float, M, K);
        var x2 = b.Input("x2", DataType.Float, M, K);
        b.Output(b.Op("MatMul", [x1, b.Constant(Tensor.FromFloats(RandomFloats(1, K * N, -1, 1), K, N), "w1")], name: "blk.attn.q"), "y1", DataType.Float, M, N);
        b.Output(b.Op("MatMul", [x2, b.Constant(Tensor.FromFloats(RandomFloats(2, K * N, -1, 1), K, N), "w2")], name: "blk.mlp.fc"), "y2", DataType.Float, M, N);
        var model = b.Build();
        var feeds = new Dictionary<string, Tensor>
        {
            ["x1"] = Tensor.FromFloats(RandomFloats(3, M * K, -2, 3), M, K),
            ["x2"] = Tensor.FromFloats(RandomFloats(4, M * K, -2, 3), M, K),
        };
        return (model, feeds, NumericAssert.Run(model, feeds));
    }

    private static Node Reader(Model model, string nodeName) => model.Graph.Nodes.Single(n => n.Name == nodeName);

    private static double Sqnr(Tensor reference, Tensor actual)
    {
        var stats = new ErrorStatistics();
        stats.Add(reference.ToFloatArray(), actual.ToFloatArray());
        return stats.SqnrDb;
    }

    [Fact]
    public void NodeGlob_GivesOnlyTheMatchedNode_Int16Activations_WhichAreMoreAccurate()
    {
        var (model, feeds, reference) = TwoMatMuls();
        using var _ = model;
        var options = new InsertQdqOptions { Overrides = [new QdqOverride { Nodes = "*attn*", ActivationType = QdqActivationType.Int16 }] };

        VerifiedPass.Run(new InsertQdqPass(), model, options, Context(MeasureRanges(model, feeds)));

        var attnInput = Reader(model, "blk.attn.q").Inputs[0]!.Producer!;
        var mlpInput = Reader(model, "blk.mlp.fc").Inputs[0]!.Producer!;
        Assert.Equal("DequantizeLinear", attnInput.OpType);
        Assert.Equal(DataType.Int16, attnInput.Inputs[2]!.Const!.ElementType);
        Assert.Equal(DataType.Int16, attnInput.Inputs[0]!.Producer!.Output.ElementType);
        Assert.Equal(DataType.UInt8, mlpInput.Inputs[2]!.Const!.ElementType);
        var outputs = NumericAssert.Run(model, feeds);
        // Same weights' int8 error in both; 256× finer activation steps must show as a clearly better output.
        double int16 = Sqnr(reference["y1"], outputs["y1"]), uint8 = Sqnr(reference["y2"], outputs["y2"]);
        Assert.True(int16 > uint8 + 3, $"int16 activations {int16:F1} dB vs uint8 {uint8:F1} dB.");
    }

    [Fact]
    public void TensorGlob_PerTensorWeightOverride_IsHonoured_AndTheOtherWeightStaysPerChannel()
    {
        var (model, feeds, _) = TwoMatMuls();
        using var _ = model;
        var options = new InsertQdqOptions { Overrides = [new QdqOverride { Tensors = "w2", WeightGranularity = QdqWeightGranularity.PerTensor }] };

        VerifiedPass.Run(new InsertQdqPass(), model, options, Context(MeasureRanges(model, feeds)));

        var w1 = Reader(model, "blk.attn.q").Inputs[1]!.Producer!;
        var w2 = Reader(model, "blk.mlp.fc").Inputs[1]!.Producer!;
        Assert.Equal([N], w1.Inputs[1]!.Const!.Dims.ToArray());
        Assert.Equal(1, w1.GetInt("axis", -1));
        Assert.Empty(w2.Inputs[1]!.Const!.Dims.ToArray());
        Assert.Null(w2.GetAttribute("axis"));
    }

    [Fact]
    public void TensorExclude_LeavesTheNodeReadingItFloat_AndCountsIt()
    {
        var (model, feeds, _) = TwoMatMuls();
        using var _ = model;
        var options = new InsertQdqOptions { Overrides = [new QdqOverride { Tensors = "x?", Exclude = false, SymmetricActivations = true }, new QdqOverride { Tensors = "y2", Exclude = true }] };
        var context = Context(MeasureRanges(model, feeds));

        VerifiedPass.Run(new InsertQdqPass(), model, options, context);

        Assert.True(Reader(model, "blk.mlp.fc").Inputs[0]!.IsGraphInput);
        Assert.Equal(1, context.Counters["excluded"]);
        // The other override applies: symmetric uint8 has its zero point at 128.
        var dq = Reader(model, "blk.attn.q").Inputs[0]!.Producer!;
        Assert.Equal(128, dq.Inputs[2]!.Const!.AsSpan<byte>()[0]);
    }

    [Fact]
    public void Int16Activations_BeforeOpset21_AreRefused_NamingTheUpgrade()
    {
        var (model, feeds, _) = TwoMatMuls(opset: 17);
        using var _ = model;
        var options = new InsertQdqOptions { ActivationType = QdqActivationType.Int16 };
        var e = Assert.Throws<OnnxQuantException>(() => VerifiedPass.Run(new InsertQdqPass(), model, options, Context(MeasureRanges(model, feeds))));
        Assert.Contains("opset >= 21", e.Message);
        Assert.Contains("upgrade-opset", e.Message);
    }

    private const string Recipe = """
        name: overrides
        passes:
          - calibrate: {method: percentile}
          - insert-qdq:
              activation-type: int16
              overrides:
                - {nodes: "*attn*", activation-type: uint8, symmetric-activations: true}
                - {tensors: "logits*", exclude: true}
                - nodes: "/head/*"
                  weight-granularity: per-tensor
                  method: percentile
                  percentile: 99.9
        """;

    [Fact]
    public void RecipeOverrides_AreBoundFromYaml_InOrder()
    {
        var recipe = RecipeLoader.Parse(Recipe, "r.yaml");
        var options = (InsertQdqOptions)recipe.Passes.Last().Options;
        Assert.Equal(QdqActivationType.Int16, options.ActivationType);
        Assert.Equal(3, options.Overrides.Count);
        Assert.Equal("*attn*", options.Overrides[0].Nodes);
        Assert.Equal(QdqActivationType.UInt8, options.Overrides[0].ActivationType);
        Assert.True(options.Overrides[0].SymmetricActivations);
        Assert.True(options.Overrides[1].Exclude);
        Assert.Equal(QdqWeightGranularity.PerTensor, options.Overrides[2].WeightGranularity);
        Assert.Equal(99.9, options.Overrides[2].Percentile);
    }

    [Theory]
    [InlineData("activation-type: uint8, symmetric-activations: true}", "activation-typ: uint8}", 7, "no key 'activation-typ'")]
    [InlineData("activation-type: uint8, symmetric-activations: true}", "activation-type: int12}", 7, "int12")]
    [InlineData("{tensors: \"logits*\", exclude: true}", "{exclude: true}", 8, "either 'nodes: GLOB' or 'tensors: GLOB'")]
    [InlineData("percentile: 99.9", "percentile: 120", 9, "(0, 100]")]
    public void BadOverrides_AreReported_AtTheirYamlLine(string good, string bad, int line, string message)
    {
        string text = Recipe.Replace(good, bad);
        Assert.NotEqual(Recipe, text);
        var e = Assert.Throws<RecipeException>(() => RecipeLoader.Parse(text, "r.yaml"));
        Assert.Equal(line, e.Location.Line);
        Assert.Contains(message, e.Message);
    }
}
