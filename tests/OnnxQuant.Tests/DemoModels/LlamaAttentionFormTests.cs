using OnnxQuant.Ir;
using OnnxQuant.DemoModels;
using OnnxQuant.Runtime;

namespace OnnxQuant.Tests.DemoModels;

/// <summary>
/// `generate llama --attention gqa|mha --attention-mask` (the forms ONNX Runtime GenAI exports): in ONNX Runtime the
/// contrib-op forms give the logits and presents of the standard-op form, prefill and decoding; attention_mask masks
/// padding keys; the weight-only presets quantize them (GPTQ calibrating through the contrib ops).
/// </summary>
public class LlamaAttentionFormTests
{
    private static readonly LlamaConfig Small = new(64, 2, 4, 2, 128, 128) { KvCache = true, AttentionMask = true };
    private static readonly RunnerOptions NoOptimization = new() { Optimization = OptimizationLevel.None };

    private static LlamaAttention Form(string name) => name switch
    {
        "gqa" => LlamaAttention.GroupQuery,
        "mha" => LlamaAttention.MultiHead,
        _ => LlamaAttention.Standard,
    };

    private static long[] Tokens(int seed, int count)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => (long)random.Next(Small.Vocab)).ToArray();
    }

    private static Dictionary<string, Tensor> Feeds(LlamaConfig c, long[][] rows, long[][] mask, IReadOnlyDictionary<string, Tensor>? previous)
    {
        var type = c.Float16 ? DataType.Float16 : DataType.Float;
        int batch = rows.Length;
        var feeds = new Dictionary<string, Tensor>
        {
            ["input_ids"] = Tensor.FromInt64s(rows.SelectMany(r => r).ToArray(), batch, rows[0].Length),
            ["attention_mask"] = Tensor.FromInt64s(mask.SelectMany(r => r).ToArray(), batch, mask[0].Length),
        };
        for (int l = 0; l < c.Layers; l++)
            foreach (string kind in new[] { "key", "value" })
                feeds[$"past_key_values.{l}.{kind}"] = previous?[$"present.{l}.{kind}"]
                    ?? TensorConversions.FromFloats(type, [], [batch, c.KvHeads, 0, c.HeadDim]);
        return feeds;
    }

    private static long[][] Ones(int batch, int length) => Enumerable.Range(0, batch).Select(_ => Enumerable.Repeat(1L, length).ToArray()).ToArray();

    /// <summary>Prefill ids[..^step], then decode the last step tokens: both runs' outputs.</summary>
    private static (Dictionary<string, Tensor> Prefill, Dictionary<string, Tensor> Decode) Decode(Model model, LlamaConfig c, long[] ids, int step)
    {
        var first = ModelRunner.RunOnce(model, Feeds(c, [ids[..^step]], Ones(1, ids.Length - step), null), NoOptimization);
        var second = ModelRunner.RunOnce(model, Feeds(c, [ids[^step..]], Ones(1, ids.Length), first), NoOptimization);
        return (new(first), new(second));
    }

    private static double WorstDifference(Tensor a, Tensor b)
    {
        Assert.Equal(a.Dims, b.Dims);
        float[] x = a.ToFloatArray(), y = b.ToFloatArray();
        return x.Zip(y, (p, q) => Math.Abs(p - q)).Max();
    }

    [Theory]
    [InlineData("gqa", false, 1e-4)]
    [InlineData("mha", false, 1e-4)]
    [InlineData("gqa", true, 0.05)]   // float16: the ops round intermediate results differently
    [InlineData("mha", true, 0.05)]
    public void ContribOpForm_GivesTheStandardFormsLogitsAndPresents(string form, bool float16, double tolerance)
    {
        var c = Small with { Float16 = float16, Attention = Form(form) };
        using var contrib = LlamaGenerator.Generate(c, seed: 3);
        using var standard = LlamaGenerator.Generate(c with { Attention = LlamaAttention.Standard }, seed: 3);
        string op = form == "gqa" ? "GroupQueryAttention" : "MultiHeadAttention";
        Assert.Equal(c.Layers, contrib.Graph.Nodes.Count(n => n.OpType == op && n.Domain == LlamaGenerator.ContribDomain));
        Assert.DoesNotContain(contrib.Graph.Nodes, n => n.OpType == "Softmax");
        Assert.Equal(standard.Graph.Inputs.Select(i => i.Name), contrib.Graph.Inputs.Select(i => i.Name));
        Assert.Equal("attention_mask", contrib.Graph.Inputs[1].Name);
        Assert.Equal(standard.Graph.Outputs.Select(o => o.Name), contrib.Graph.Outputs.Select(o => o.Name));

        long[] ids = Tokens(9, 12);
        foreach (int step in new[] { 1, 3 })
        {
            var (expectedPrefill, expectedDecode) = Decode(standard, c, ids, step);
            var (prefill, decode) = Decode(contrib, c, ids, step);
            foreach (var (name, expected) in expectedPrefill)
                Assert.True(WorstDifference(expected, prefill[name]) < tolerance, $"prefill {name} differs by {WorstDifference(expected, prefill[name]):G4}");
            foreach (var (name, expected) in expectedDecode)
                Assert.True(WorstDifference(expected, decode[name]) < tolerance, $"decoding {step}: {name} differs by {WorstDifference(expected, decode[name]):G4}");
        }
    }

    /// <summary>
    /// Keys whose attention_mask is 0 do not reach any query: the last token's logits do not depend on the ids at the
    /// masked positions, and do when the mask is all ones. (GroupQueryAttention takes lengths, not a mask: its
    /// attention_mask can only mark padding at the end of a row, which causal attention already hides in a prefill.)
    /// </summary>
    [Theory]
    [InlineData("standard")]
    [InlineData("mha")]
    public void AttentionMask_MaskedKeys_DoNotReachTheQueries(string form)
    {
        var c = Small with { Attention = Form(form) };
        using var model = LlamaGenerator.Generate(c, seed: 4);
        long[] ids = Tokens(11, 11), changed = (long[])ids.Clone();
        for (int i = 6; i < 9; i++) changed[i] = (ids[i] + 1 + i) % c.Vocab;
        long[] mask = [1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1];
        float[] Last(long[] row, long[] m) =>
            ModelRunner.RunOnce(model, Feeds(c, [row], [m], null), NoOptimization)["logits"].ToFloatArray()[^c.Vocab..];
        double masked = Last(ids, mask).Zip(Last(changed, mask), (a, b) => Math.Abs(a - b)).Max();
        Assert.True(masked < 1e-5, $"{form}: masked positions changed the last logits by {masked:G4}");
        double unmasked = Last(ids, Ones(1, 11)[0]).Zip(Last(changed, Ones(1, 11)[0]), (a, b) => Math.Abs(a - b)).Max();
        Assert.True(unmasked > 1e-3, $"{form}: without the mask the same change moves the logits ({unmasked:G4})");
    }
}
