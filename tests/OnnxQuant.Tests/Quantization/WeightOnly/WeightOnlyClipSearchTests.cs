using OnnxQuant.Ir;
using OnnxQuant.Ir.Building;
using OnnxQuant.Passes.Quantization.Rounding;
using OnnxQuant.Passes.Quantization.WeightOnly;
using OnnxQuant.Tests.Support;
using static OnnxQuant.Tests.Quantization.QdqTestKit;
using static OnnxQuant.Tests.Quantization.WeightOnly.WeightOnlyTestKit;

namespace OnnxQuant.Tests.Quantization.WeightOnly;

/// <summary>
/// quantize-weights' <c>clip-search</c>: the exported MatMulNBits computes x·Ŵ with Ŵ the C# reference (each block's
/// scale from <see cref="WeightClipSearch"/>, then round to nearest), its weight error is below the unclipped grid's on
/// weights with rare large values, and the settings it cannot serve are refused with the fix.
/// </summary>
public class WeightOnlyClipSearchTests
{
    private const int M = 3, K = 64, N = 6;

    /// <summary>x [M, K] · W [K, N], W uniform in ±1 with one weight in 16 five times larger (the tails clipping trades).</summary>
    private static (Model Model, float[] W, Dictionary<string, Tensor> Feeds, float[] X) HeavyTailedMatMul(long opset = 17)
    {
        var b = new GraphBuilder(opset: opset);
        var x = b.Input("x", DataType.Float, M, K);
        float[] w = RandomFloats(31, K * N, -1, 1);
        for (int i = 0; i < w.Length; i += 16) w[i] *= 5;
        b.Output(b.Op("MatMul", [x, b.Constant(Tensor.FromFloats(w, K, N), "w")], name: "mm"), "y", DataType.Float, M, N);
        float[] xs = RandomFloats(32, M * K, -2, 2);
        return (b.Build(), w, new() { ["x"] = Tensor.FromFloats(xs, M, K) }, xs);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void MseClipSearch_MatchesTheClipSearchedReference_AndLowersTheWeightError(bool symmetric)
    {
        var (model, w, feeds, xs) = HeavyTailedMatMul();
        using var _ = model;

        var (context, _) = Run(model, new QuantizeWeightsOptions { Bits = 4, Symmetric = symmetric, ClipSearch = WeightClipSearchMode.Mse, LmHead = "4" });

        Assert.Equal(1, Counter(context, "clip-search-mse"));
        Assert.Equal("MatMulNBits", model.Graph.Nodes.Single().OpType);
        // Reference: the rows [N, K] of B, scales from the search, round to nearest on them.
        var rows = Transpose(w, K, N);
        var grid = new WeightGrid(4, symmetric ? WeightScaleRule.SignedExtreme : WeightScaleRule.Asymmetric, 32, false, DataType.Float);
        var q = new RoundToNearest().Round(rows, N, K, grid, null, WeightClipSearch.Search(rows, N, K, grid, null));
        var clipped = new double[K * N];
        for (int r = 0; r < K; r++)
            for (int c = 0; c < N; c++) clipped[r * N + c] = q.Dequantize(c, r);
        Matches(Product(xs, clipped, M, K, N), NumericAssert.Run(model, feeds)["y"], 1e-4, "y");

        var plain = FakeQuantKn(w, K, N, 4, 32, symmetric);
        double clippedError = w.Select((v, i) => (v - clipped[i]) * (v - clipped[i])).Sum();
        double plainError = w.Select((v, i) => (v - plain[i]) * (v - plain[i])).Sum();
        Assert.True(clippedError < plainError, $"Σe² {clippedError:G4} with the clip search vs {plainError:G4} without");
    }

    [Fact]
    public void OutputClipSearch_WithoutACalibrateStep_IsRefusedWithTheFix()
    {
        var (model, _, _, _) = HeavyTailedMatMul();
        using var _ = model;

        var e = Assert.Throws<OnnxQuantException>(() => Run(model, new QuantizeWeightsOptions { ClipSearch = WeightClipSearchMode.Output, LmHead = "4" }));

        Assert.Contains("run a calibrate step", e.Message);
        Assert.Contains("clip-search: mse", e.Message);
        Assert.Equal("MatMul", model.Graph.Nodes.Single().OpType);
    }

    [Fact]
    public void ClipSearch_WithBinaryCoding_IsRefused()
    {
        var (model, _, _, _) = HeavyTailedMatMul(opset: 21);
        using var _ = model;

        var e = Assert.Throws<OnnxQuantException>(() => Run(model, new QuantizeWeightsOptions
        {
            Bits = 2, Rounding = WeightRounding.Gptqt, Format = WeightOnlyFormat.Dq, ClipSearch = WeightClipSearchMode.Mse, LmHead = "4",
        }));

        Assert.Contains("rounding: gptqt searches its binary-coding scales itself", e.Message);
    }
}
