using OnnxQuant.Ir;
using OnnxQuant.Ir.Building;
using OnnxQuant.Passes;
using OnnxQuant.Passes.LinearLayers;
using OnnxQuant.Passes.Quantization;
using OnnxQuant.Passes.Quantization.Rounding;
using OnnxQuant.Passes.Quantization.WeightOnly;
using OnnxQuant.Passes.Recipes;
using OnnxQuant.Tests.Support;
using static OnnxQuant.Tests.Quantization.QdqTestKit;

namespace OnnxQuant.Tests.Quantization.Rounding;

/// <summary>The <c>rounding</c> option, the rounder behind it, and the project's one scale rounding rule.</summary>
public class WeightRoundingTests
{
    [Theory]
    [InlineData("quantize-weights: {rounding: rtn}", "quantize-weights")]
    [InlineData("insert-dynamic-qdq: {rounding: rtn}", "insert-dynamic-qdq")]
    [InlineData("insert-qdq: {rounding: rtn}", "insert-qdq")]
    public void RoundingOption_IsReadFromTheRecipe_AndChoosesTheRoundToNearestRounder(string step, string pass)
    {
        var recipe = RecipeLoader.Parse($"name: r\npasses:\n  - calibrate\n  - {step}\n", "r.yaml");
        var options = recipe.Passes.Single(p => p.Name == pass).Options;
        var rounding = (WeightRounding)options.GetType().GetProperty("Rounding")!.GetValue(options)!;
        Assert.Equal(WeightRounding.Rtn, rounding);
        var rounder = WeightRounders.For(rounding);
        Assert.IsType<RoundToNearest>(rounder);
        Assert.Equal("rtn", rounder.Name);
    }

    [Theory]
    [InlineData("quantize-weights")]
    [InlineData("insert-qdq")]
    [InlineData("insert-dynamic-qdq")]
    public void UnknownRounding_IsAnErrorAtItsYamlLine_ListingTheNames(string pass)
    {
        string line = $"  - {pass}: {{rounding: gptqq}}";
        var e = Assert.Throws<RecipeException>(() => RecipeLoader.Parse($"name: r\npasses:\n  - calibrate\n{line}\n", "r.yaml"));
        Assert.Equal(4, e.Location.Line);
        Assert.Equal(line.IndexOf("gptqq", StringComparison.Ordinal) + 1, e.Location.Column);
        Assert.Contains($"Option 'rounding' of pass '{pass}' is one of rtn, gptq, gptqt; 'gptqq' is not.", e.Message);
    }

    [Fact]
    public void QuantizeWeights_StoresTheCodesOfTheRounder_OnTheViewsRows()
    {
        const int M = 2, K = 64, N = 8;
        var b = new GraphBuilder(opset: 21);
        var x = b.Input("x", DataType.Float, M, K);
        b.Output(b.Op("MatMul", x, b.Constant(Tensor.FromFloats(RandomFloats(21, K * N, -1, 1), K, N), "w")), "y", DataType.Float, M, N);
        using var model = b.Build();
        Assert.Null(LinearLayer.TryRead(model.Graph.Nodes.Single(), out var layer));
        var expected = new RoundToNearest().Round(layer!.ReadRows(), N, K, new WeightGrid(4, WeightScaleRule.SignedExtreme, 32, false, DataType.Float), layer);

        Assert.True(VerifiedPass.Run(new QuantizeWeightsPass(), model, new QuantizeWeightsOptions { Format = WeightOnlyFormat.Dq, LmHead = "4" }, new PassContext()).Modified);

        var dq = model.Graph.Nodes.Single(n => n.OpType == "DequantizeLinear");
        var codes = new int[K * N];
        OnnxQuant.Ir.Numerics.SubBytePacking.Unpack(dq.Inputs[0]!.Const!.RawData.Span, 4, signed: true, codes);
        // The DQ keeps the MatMul's [K, N] layout: codes back to rows, the rounder's (unsigned − 8).
        var rows = AxisRows.Of([K, N], 1).ToRows<int>(codes);
        Assert.Equal(expected.Codes.Select(c => c - 8), rows);
        Assert.Equal(AxisRows.Of([2, N], 1).ToStored<float>(expected.Scales), dq.Inputs[1]!.Const!.ToFloatArray());
    }

    [Fact]
    public void RoundScale_IsOneRule_SignKept_MagnitudeFloored_RoundedToTheStoredType()
    {
        Assert.Equal(0.25f, QdqMath.RoundScale(0.25, DataType.Float));
        Assert.Equal(-0.25f, QdqMath.RoundScale(-0.25, DataType.Float));
        Assert.Equal(QdqMath.MinScaleFloat, QdqMath.RoundScale(0, DataType.Float));
        Assert.Equal(QdqMath.MinScaleFloat, QdqMath.RoundScale(double.NaN, DataType.Float));
        Assert.Equal(-QdqMath.MinScaleFloat16, QdqMath.RoundScale(-1e-9, DataType.Float16));
        Assert.Equal((float)(Half)0.1f, QdqMath.RoundScale(0.1, DataType.Float16));
    }

    [Theory]
    [InlineData(WeightScaleRule.SignedExtreme)]
    [InlineData(WeightScaleRule.NarrowSymmetric)]
    [InlineData(WeightScaleRule.Asymmetric)]
    public void AllZeroBlock_GetsTheMinimumScale_AndItsZeroPointAsCodes(WeightScaleRule rule)
    {
        var rows = new float[32];
        Array.Fill(rows, 0.5f, 16, 16);
        var q = new RoundToNearest().Round(rows, 1, 32, new WeightGrid(4, rule, 16, false, DataType.Float), null);
        Assert.Equal(QdqMath.MinScaleFloat, q.Scales[0]);
        Assert.All(q.Codes.Take(16), c => Assert.Equal(q.ZeroPoints[0], c));
        Assert.All(Enumerable.Range(16, 16), c => Assert.Equal(0.5f, q.Dequantize(0, c), 1e-6f));
    }

    [Fact]
    public void GivenScales_AreTheOnesRoundedTo_AsWidenedScalesForABiasNeedThem()
    {
        var rows = RandomFloats(4, 2 * 16, -1, 1);
        var grid = new WeightGrid(8, WeightScaleRule.NarrowSymmetric, 16, false, DataType.Float);
        var natural = grid.ScalesOf(rows, 2, 16);
        var widened = new BlockScales(natural.Scales.Select(s => 4 * s).ToArray(), natural.ZeroPoints);

        var q = new RoundToNearest().Round(rows, 2, 16, grid, null, widened);

        Assert.Equal(widened.Scales, q.Scales);
        for (int i = 0; i < rows.Length; i++)
            Assert.Equal(Math.Round(rows[i] / widened.Scales[i / 16], MidpointRounding.ToEven), q.Codes[i] - 128);
        Assert.All(q.Codes, c => Assert.InRange(c - 128, -32, 32));
    }

    [Fact]
    public void NarrowSymmetricInt8_PerTensor_UsesOneScaleOverAllRows_AndCodesWithinPlusMinus127()
    {
        var rows = RandomFloats(3, 6 * 10, -2, 1);
        var q = new RoundToNearest().Round(rows, 6, 10, new WeightGrid(8, WeightScaleRule.NarrowSymmetric, 10, true, DataType.Float), null);
        float expected = rows.Max(Math.Abs) / 127f;
        Assert.All(q.Scales, s => Assert.Equal(expected, s, 1e-7f));
        Assert.All(q.Codes, c => Assert.InRange(c - 128, -127, 127));
        Assert.Contains(q.Codes, c => c == 1 || c == 255);
    }
}
