using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.DemoModels;
using OnnxQuant.Runtime;

namespace OnnxQuant.Tests.DemoModels;

public class VitGeneratorTests
{
    [Fact]
    public void VitTiny_RunsInOnnxRuntime_WithFiniteLogitsPerImage()
    {
        using var model = VitGenerator.Generate(VitConfig.Tiny, seed: 0);
        var feeds = SampleInputs.ForModel(model, seed: 3, new Dictionary<string, long[]> { ["pixel_values"] = [2, 3, 32, 32] });
        var logits = ModelRunner.RunOnce(model, feeds)["logits"];
        Assert.Equal([2L, 10L], logits.Dims);
        Assert.All(logits.ToFloatArray(), v => Assert.True(float.IsFinite(v)));
        // Different images must give different logits (the network is not degenerate).
        var f = logits.ToFloatArray();
        Assert.NotEqual(f[..10], f[10..]);
    }

    [Fact]
    public void SameSeed_GivesSameBytes_OtherSeed_OtherWeights()
    {
        byte[] a = OnnxWriter.ToBytes(VitGenerator.Generate(VitConfig.Tiny, seed: 7));
        byte[] b = OnnxWriter.ToBytes(VitGenerator.Generate(VitConfig.Tiny, seed: 7));
        byte[] c = OnnxWriter.ToBytes(VitGenerator.Generate(VitConfig.Tiny, seed: 8));
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
    }

    [Fact]
    public void VitTiny_IsUnderOneMegabyte_AndHasTheConfiguredParameterCount()
    {
        using var model = VitGenerator.Generate(VitConfig.Tiny, seed: 0);
        long parameters = model.Graph.Constants.Where(v => v.Const!.ElementType == DataType.Float).Sum(v => v.Const!.ElementCount);
        // Besides the weights, each decomposed LayerNorm has 2 float scalars (exponent, epsilon) and each block 4 more
        // (attention scale; GELU's √2, 1 and 0.5).
        int layerNorms = 2 * VitConfig.Tiny.Layers + 1;
        Assert.Equal(ExpectedParameters(VitConfig.Tiny) + 2 * layerNorms + 4 * VitConfig.Tiny.Layers, parameters);
        Assert.True(OnnxWriter.ToBytes(model).Length < 1_000_000);
    }

    [Fact]
    public void VitB16Config_HasViTBaseParameterCount()
    {
        // ViT-B/16 has 86.6M parameters (Dosovitskiy et al.); the formula counts the same tensors the generator makes.
        long p = ExpectedParameters(VitConfig.B16);
        Assert.InRange(p, 86_000_000, 87_000_000);
    }

    /// <summary>Parameter count of a ViT computed from its definition, independently of the generator's code.</summary>
    private static long ExpectedParameters(VitConfig c)
    {
        long d = c.Width, m = c.MlpWidth;
        long embed = d * c.Channels * c.PatchSize * c.PatchSize + d + d + c.Tokens * d;
        long block = 2 * 2 * d + (d * 3 * d + 3 * d) + (d * d + d) + (d * m + m) + (m * d + d);
        long head = 2 * d + c.Classes * d + c.Classes;
        return embed + c.Layers * block + head;
    }

    [Fact]
    public void OutlierChannels_KeepTheFloatFunction_AndGiveAFewLayerNormChannels10To50TimesTheScale()
    {
        using var plain = VitGenerator.Generate(VitConfig.Tiny, seed: 0);
        using var outliers = VitGenerator.Generate(VitConfig.Tiny with { OutlierChannels = 3 }, seed: 0);
        var feeds = SampleInputs.ForModel(plain, seed: 3, new Dictionary<string, long[]> { ["pixel_values"] = [2, 3, 32, 32] });

        // The next layers divide what the LayerNorms multiply: the logits are the same up to float rounding.
        var expected = ModelRunner.RunOnce(plain, feeds)["logits"].ToFloatArray();
        var actual = ModelRunner.RunOnce(outliers, feeds)["logits"].ToFloatArray();
        double scale = expected.Max(Math.Abs);
        Assert.All(expected.Zip(actual), p => Assert.True(Math.Abs(p.First - p.Second) <= 1e-4 * scale, $"{p.First} vs {p.Second}"));

        // Each LayerNorm's γ: exactly three channels 10–50× the plain model's.
        var plainGamma = plain.Graph.Constants.Where(c => c.Name!.EndsWith("norm1.weight", StringComparison.Ordinal)).Select(c => c.Const!.ToFloatArray()).ToList();
        var outlierGamma = outliers.Graph.Constants.Where(c => c.Name!.EndsWith("norm1.weight", StringComparison.Ordinal)).Select(c => c.Const!.ToFloatArray()).ToList();
        Assert.Equal(VitConfig.Tiny.Layers, plainGamma.Count);
        for (int l = 0; l < plainGamma.Count; l++)
        {
            var ratios = plainGamma[l].Zip(outlierGamma[l], (a, b) => b / a).ToArray();
            Assert.Equal(3, ratios.Count(r => r is >= 10 and <= 50));
            Assert.Equal(VitConfig.Tiny.Width - 3, ratios.Count(r => r == 1));
        }
    }
}
