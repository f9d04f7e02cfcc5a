using OnnxQuant.Ir;
using OnnxQuant.Ir.Building;
using OnnxQuant.Passes.Quantization.WeightOnly;
using OnnxQuant.Tests.Support;
using static OnnxQuant.Tests.Quantization.QdqTestKit;
using static OnnxQuant.Tests.Quantization.WeightOnly.WeightOnlyTestKit;

namespace OnnxQuant.Tests.Quantization.WeightOnly;

public class TiedWeightTests
{
    private const int V = 24, D = 32, S = 5;

    /// <summary>A tiny LM with a tied embedding: logits = Gather(E, ids) · Transpose(E).</summary>
    private static (Model Model, float[] E, long[] Ids) TiedModel(long opset = 21)
    {
        var b = new GraphBuilder(opset: opset);
        var ids = b.Input("ids", DataType.Int64, 1, S);
        float[] e = RandomFloats(100, V * D, -1, 1);
        var table = b.Constant(Tensor.FromFloats(e, V, D), "embed");
        var h = b.Op("Gather", [table, ids], name: "embed");
        var t = b.Op("Transpose", [table], [Attribute.Ints("perm", [1, 0])]);
        b.Output(b.Op("MatMul", [h, t], name: "head"), "logits", DataType.Float, 1, S, V);
        long[] idx = [0, 3, 7, 23, 3];
        return (b.Build(), e, idx);
    }

    private static Dictionary<string, Tensor> Feeds(long[] ids) => new() { ["ids"] = Tensor.FromInt64s(ids, 1, S) };

    /// <summary>logits[s, v] = Σ_d Ê[ids[s], d] · Ê[v, d] with Ê the per-row block fake quantization of E.</summary>
    private static (double[] Y, double[] Magnitude) Reference(float[] e, long[] ids, int bits)
    {
        // E rows are the output channels: quantize E^T ([D, V]) along D, as FakeQuantKn does for MatMul B.
        var eq = Transpose(FakeQuantKn(Transpose(e, V, D), D, V, bits, 32, symmetric: true), D, V);
        var x = ids.SelectMany(i => Enumerable.Range(0, D).Select(d => (float)eq[i * D + d])).ToArray();
        return Product(x, Transpose(eq, V, D), S, D, V);
    }

    [Theory]
    [InlineData(4)]
    [InlineData(8)]
    public void TiedEmbeddingAndHead_AreQuantizedOnce_SharingScales_AndMatchTheReference(int bits)
    {
        var (model, e, ids) = TiedModel();
        using var _ = model;

        var (context, log) = Run(model, new QuantizeWeightsOptions { Bits = bits, LmHead = bits.ToString(), Embedding = bits.ToString() });

        var gather = model.Graph.Nodes.Single(n => n.OpType == "GatherBlockQuantized");
        var head = model.Graph.Nodes.Single(n => n.OpType == "MatMulNBits");
        // One packed tensor for both readers; GatherBlockQuantized takes its own [V, blocks, 1] scales.
        Assert.Same(gather.Inputs[0], head.Inputs[1]);
        Assert.Equal([V, D / 32, 1], gather.Inputs[2]!.Const!.Dims.ToArray());
        Assert.Equal(0, Count(model, "Transpose"));
        Assert.DoesNotContain(model.Graph.Constants, c => c.Name == "embed");
        Assert.Single(model.Graph.Constants, c => c.Const!.ElementType == DataType.UInt8);
        Assert.Equal(0, Counter(context, "tied-copies"));
        Assert.Equal(1, Counter(context, "tied-shared"));
        Assert.Equal((long)V * (D / 32) * 4, Counter(context, "tied-extra-bytes"));
        Assert.Contains(log, l => l.Contains("shared by the embedding and the head"));

        Matches(Reference(e, ids, bits), NumericAssert.Run(model, Feeds(ids))["logits"], 1e-4, "logits");
    }

    [Fact]
    public void TiedWeights_WithDifferentBitsForHeadAndEmbedding_AreStoredTwice_AndCounted()
    {
        var (model, _, ids) = TiedModel();
        using var _ = model;

        var (context, log) = Run(model, new QuantizeWeightsOptions { LmHead = "8", Embedding = "4" });

        Assert.Equal(1, Count(model, "GatherBlockQuantized"));
        Assert.Equal(1, Count(model, "MatMulNBits"));
        Assert.Equal(1, Counter(context, "tied-copies"));
        // The embedding's 4-bit bytes come first; the head's 8-bit copy is the extra one.
        Assert.Equal((long)V * D, Counter(context, "tied-extra-bytes"));
        Assert.Contains(log, l => l.Contains("stored 2 times"));
        Assert.Equal([1, S, V], NumericAssert.Run(model, Feeds(ids))["logits"].Dims.ToArray());
    }

    [Fact]
    public void TiedWeights_InTheDqFormat_ShareOneDequantizeLinear()
    {
        var (model, e, ids) = TiedModel();
        using var _ = model;

        var (context, _) = Run(model, new QuantizeWeightsOptions { Format = WeightOnlyFormat.Dq, LmHead = "4", Embedding = "4" });

        var dq = model.Graph.Nodes.Single(n => n.OpType == "DequantizeLinear");
        Assert.Equal(2, dq.Output.Uses.Count);
        Assert.Equal(0, Counter(context, "tied-copies"));
        Matches(Reference(e, ids, 4), NumericAssert.Run(model, Feeds(ids))["logits"], 1e-4, "logits");
    }

    [Fact]
    public void TiedWeight_WithAFloatEmbedding_KeepsTheFloatTable_AndReportsTheExtraCopy()
    {
        var (model, _, ids) = TiedModel();
        using var _ = model;

        var (context, log) = Run(model, new QuantizeWeightsOptions());

        Assert.Equal(1, Count(model, "Gather"));
        Assert.Equal(1, Count(model, "MatMulNBits"));
        Assert.Contains(model.Graph.Constants, c => c.Name == "embed");
        Assert.Equal(1, Counter(context, "tied-copies"));
        Assert.Equal((long)V * D * 4, Counter(context, "tied-extra-bytes"));
        Assert.Contains(log, l => l.Contains("float"));
        Assert.Equal([1, S, V], NumericAssert.Run(model, Feeds(ids))["logits"].Dims.ToArray());
    }
}
