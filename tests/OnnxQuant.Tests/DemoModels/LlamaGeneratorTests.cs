using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Ir.Verification;
using OnnxQuant.DemoModels;
using OnnxQuant.Runtime;
using OnnxQuant.Tests.Support;

namespace OnnxQuant.Tests.DemoModels;

public class LlamaGeneratorTests
{
    /// <summary>width 16, 2 layers, 4 heads sharing 2 KV heads (head size 4), FFN 24, vocab 32.</summary>
    private static readonly LlamaConfig Tiny = new(16, 2, 4, 2, 24, 32);

    /// <summary>ORT runs float32 and the reference double: relative to the largest logit, far below any wiring error.</summary>
    private const double Tolerance = 1e-4;

    public static TheoryData<int, int, bool> GroupShapes => new()
    {
        { 4, 2, false }, // grouped: two query heads per KV head
        { 4, 4, false }, // multi-head: one KV head each
        { 4, 1, false }, // multi-query: one KV head for all
        { 2, 1, true },  // tied head: Gemm(transB) on the embedding table
    };

    [Theory]
    [MemberData(nameof(GroupShapes))]
    public void Logits_MatchAReferenceForwardPass(int heads, int kvHeads, bool tied)
    {
        var c = Tiny with { Heads = heads, KvHeads = kvHeads, TiedEmbeddings = tied };
        using var model = LlamaGenerator.Generate(c, seed: 3);
        const int batch = 2, seq = 5;
        var random = new Random(11);
        long[] ids = Enumerable.Range(0, batch * seq).Select(_ => (long)random.Next(c.Vocab)).ToArray();

        var logits = Run(model, ids, batch, seq);

        double[] expected = LlamaReference.Forward(model, c, ids, batch, seq);
        var expectedTensor = Tensor.FromFloats(expected.Select(v => (float)v).ToArray(), batch, seq, c.Vocab);
        NumericAssert.Close(expectedTensor, logits, Tolerance, "logits");
    }

    [Fact]
    public void EarlierPositions_DoNotSeeLaterTokens()
    {
        using var model = LlamaGenerator.Generate(Tiny, seed: 1);
        long[] a = [1, 2, 3, 4], b = [1, 2, 3, 9];
        float[] la = Run(model, a, 1, 4).ToFloatArray(), lb = Run(model, b, 1, 4).ToFloatArray();
        int v = Tiny.Vocab;
        Assert.Equal(la[..(3 * v)], lb[..(3 * v)]);
        Assert.NotEqual(la[(3 * v)..], lb[(3 * v)..]);
    }

    [Fact]
    public void Logits_AreFiniteAndSpread_NotOneTokenEverywhere()
    {
        using var model = LlamaGenerator.Generate(Tiny, seed: 0);
        const int seq = 8;
        float[] logits = Run(model, Enumerable.Range(0, seq).Select(i => (long)(i * 3 % Tiny.Vocab)).ToArray(), 1, seq).ToFloatArray();
        Assert.All(logits, v => Assert.True(float.IsFinite(v)));
        double mean = logits.Average(), std = Math.Sqrt(logits.Average(v => (v - mean) * (v - mean)));
        // Unit-variance projections give logits of order 1: neither vanishing nor a saturated softmax.
        Assert.InRange(std, 0.2, 5);
        var argmaxes = Enumerable.Range(0, seq).Select(t => Array.IndexOf(logits, logits[(t * Tiny.Vocab)..((t + 1) * Tiny.Vocab)].Max(), t * Tiny.Vocab)).ToHashSet();
        Assert.True(argmaxes.Count > 1, "every position predicts the same token");
    }

    [Fact]
    public void SameSeed_GivesSameBytes_OtherSeed_OtherWeights()
    {
        byte[] a = OnnxWriter.ToBytes(LlamaGenerator.Generate(Tiny, seed: 7));
        byte[] b = OnnxWriter.ToBytes(LlamaGenerator.Generate(Tiny, seed: 7));
        byte[] c = OnnxWriter.ToBytes(LlamaGenerator.Generate(Tiny, seed: 8));
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
    }

    [Fact]
    public void Model_Verifies_AndSurvivesAReadWriteRoundTrip()
    {
        using var model = LlamaGenerator.Generate(Tiny, seed: 0);
        Assert.True(Verifier.Verify(model).IsValid, Verifier.Verify(model).ToString());
        // RMSNormalization needs opset 23, which ONNX released with IR version 11.
        Assert.Equal(23, model.GetOpset(""));
        Assert.True(model.IrVersion >= 11);
        byte[] bytes = OnnxWriter.ToBytes(model);
        using var again = OnnxReader.Read(bytes);
        Assert.True(Verifier.Verify(again).IsValid);
        Assert.Equal(bytes, OnnxWriter.ToBytes(again));
    }

    [Fact]
    public void Weights_AreConstant2DMatMulInitializers_AndTheEmbeddingAGather()
    {
        using var model = LlamaGenerator.Generate(Tiny, seed: 0);
        var matMuls = model.Graph.Nodes.Where(n => n.OpType == "MatMul" && n.Inputs[1]!.IsConstant).ToList();
        // 7 projections per layer and the head.
        Assert.Equal(7 * Tiny.Layers + 1, matMuls.Count);
        Assert.All(matMuls, n => Assert.Equal(2, n.Inputs[1]!.Const!.Rank));
        var head = Assert.Single(model.Graph.Outputs).Producer!;
        Assert.Equal("MatMul", head.OpType);
        Assert.Equal([(long)Tiny.Width, Tiny.Vocab], head.Inputs[1]!.Const!.Dims);
        var gather = Assert.Single(model.Graph.Nodes, n => n.OpType == "Gather" && n.Inputs[0]!.IsConstant);
        Assert.Equal([(long)Tiny.Vocab, Tiny.Width], gather.Inputs[0]!.Const!.Dims);
        Assert.Equal(2 * Tiny.Layers + 1, model.Graph.Nodes.Count(n => n.OpType == "RMSNormalization"));
    }

    [Fact]
    public void ParameterCount_IsTheConfigsCount()
    {
        foreach (bool tied in new[] { false, true })
        {
            var c = Tiny with { TiedEmbeddings = tied };
            using var model = LlamaGenerator.Generate(c, seed: 0);
            // Besides the weights: the rotary inverse frequencies (d/2) and the attention scale (1).
            long floats = model.Graph.Constants.Where(v => v.Const!.ElementType == DataType.Float).Sum(v => v.Const!.ElementCount);
            Assert.Equal(c.Parameters + c.HeadDim / 2 + 1, floats);
        }
    }

    [Fact]
    public void DefaultConfig_HasAboutAThirdOfABillionParameters()
    {
        // Counted by hand: embedding and head 2·32000·2048, per layer 2·2048² + 2·2048·512 + 3·2048·5632 + 2·2048.
        long expected = 2L * 32000 * 2048 + 4 * (2L * 2048 * 2048 + 2L * 2048 * 512 + 3L * 2048 * 5632 + 2 * 2048) + 2048;
        Assert.Equal(expected, LlamaConfig.Default.Parameters);
    }

    [Theory]
    [InlineData(18, 4, 2, "--heads 4 does not divide --width 18")]
    [InlineData(16, 4, 3, "--kv-heads 3 does not divide --heads 4")]
    [InlineData(12, 4, 2, "is odd")]
    [InlineData(16, 0, 1, "--heads must be at least 1")]
    public void InvalidShapes_AreUserErrors_NamingTheOption(int width, int heads, int kvHeads, string message)
    {
        var e = Assert.Throws<OnnxQuantException>(() => LlamaGenerator.Generate(Tiny with { Width = width, Heads = heads, KvHeads = kvHeads }, 0));
        Assert.Contains(message, e.Message);
    }

    private static Tensor Run(Model model, long[] ids, int batch, int seq) =>
        ModelRunner.RunOnce(model, new Dictionary<string, Tensor> { ["input_ids"] = Tensor.FromInt64s(ids, batch, seq) },
            new RunnerOptions { Optimization = OptimizationLevel.None })["logits"];
}
