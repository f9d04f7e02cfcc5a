using OnnxQuant.Ir;
using OnnxQuant.Ir.Building;
using OnnxQuant.Ir.Verification;
using OnnxQuant.Passes.LinearLayers;
using OnnxQuant.Passes.Rewriting;
using OnnxQuant.Runtime;
using static OnnxQuant.Tests.Quantization.QdqTestKit;

namespace OnnxQuant.Tests.LinearLayers;

/// <summary>
/// The linear-layer view: B (K×N per group) read from MatMul, Gemm (every transB/alpha/beta/C combination) and Conv
/// (groups, depthwise) against index formulas written here; a weight replaced through the view runs in ORT exactly
/// like the same edit made directly on the stored tensor; shared weights are refused with the reason.
/// </summary>
public class LinearLayerTests
{
    private const double Tolerance = 1e-6;

    /// <summary>The test's own edit of B, per group g: B'[k, n] = B[k, n]·(1 + k/10)·(1 − n/7) − g/3.</summary>
    private static float Edit(float b, int group, int k, int n) => b * (1f + k / 10f) * (1f - n / 7f) - group / 3f;

    /// <summary>Runs <paramref name="model"/> in ORT (optimizations off) on <paramref name="feeds"/>: output "y".</summary>
    private static float[] RunY(Model model, Dictionary<string, Tensor> feeds)
    {
        using var runner = ModelRunner.FromModel(model, new RunnerOptions());
        return runner.Run(feeds, ["y"])["y"].ToFloatArray();
    }

    private static void AssertClose(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        double scale = expected.Max(v => Math.Abs((double)v));
        double worst = expected.Zip(actual, (e, a) => Math.Abs((double)e - a)).Max();
        Assert.True(worst <= Tolerance * scale, $"{what}: max |a − b| = {worst:G4} > {Tolerance} · {scale:G4}.");
    }

    /// <summary>
    /// Builds the layer twice (weight <paramref name="w"/>, and the directly edited <paramref name="wEdited"/>),
    /// checks K, N, groups and ReadB against <paramref name="b"/> (index formula of the test), replaces the weight of
    /// the first through the view and compares both in ORT; the edit must also change the output.
    /// </summary>
    private static void CheckLayer(Func<GraphBuilder, Value, Value, Value> build, long[] inputDims, float[] w, long[] wDims,
        Func<int, int, int, float> b, float[] wEdited, int groups, int k, int n, Action<LinearLayer>? extra = null)
    {
        Model Build(float[] weights)
        {
            var g = new GraphBuilder(opset: 17);
            var x = g.Input("x", DataType.Float, inputDims.Select(d => (Dim)d).ToArray());
            var y = build(g, x, g.Constant(Tensor.FromFloats(weights, wDims), "w"));
            g.Output(y, "y", DataType.Float);
            return g.Build();
        }
        using var model = Build(w);
        using var direct = Build(wEdited);
        var node = model.Graph.Nodes.Single(nd => nd.OpType is "MatMul" or "Gemm" or "Conv");
        Assert.Null(LinearLayer.TryRead(node, out var layer));
        Assert.Equal((groups, k, n), (layer!.Groups, layer.K, layer.N));
        for (int g = 0; g < groups; g++)
        {
            var read = layer.ReadB(g);
            for (int kk = 0; kk < k; kk++)
                for (int nn = 0; nn < n; nn++)
                    Assert.Equal(b(g, kk, nn), read[kk * n + nn]);
        }
        extra?.Invoke(layer);

        var feeds = new Dictionary<string, Tensor> { ["x"] = Tensor.FromFloats(RandomFloats(5, (int)inputDims.Aggregate(1L, (p, d) => p * d), -1, 1), inputDims) };
        var before = RunY(model, feeds);
        var rows = layer.ReadRows();
        var edited = new float[rows.Length];
        for (int g = 0; g < groups; g++)
            for (int nn = 0; nn < n; nn++)
                for (int kk = 0; kk < k; kk++)
                {
                    int at = (g * n + nn) * k + kk;
                    edited[at] = Edit(rows[at], g, kk, nn);
                }
        var original = layer.Weight;
        var replacement = LinearLayer.ReplaceWeight(new Rewriter(model.Graph), [layer], layer.WeightFromRows(edited));
        Assert.NotSame(original, replacement);
        Assert.Null(original.Graph);                       // the old constant is gone, not changed in place
        Assert.Equal(w, original.Const!.ToFloatArray());
        Verifier.Verify(model).ThrowIfInvalid("after ReplaceWeight");

        var after = RunY(model, feeds);
        AssertClose(RunY(direct, feeds), after, "weight replaced through the view vs. the same edit on the stored tensor");
        Assert.True(before.Zip(after, (p, q) => Math.Abs(p - q)).Max() > 1e-3, "the edit did not change the output: the comparison proves nothing");
    }

    [Fact]
    public void MatMul_ReadsKByN_AndAReplacedWeightRunsLikeTheDirectEdit()
    {
        const int M = 3, K = 5, N = 4;
        var w = RandomFloats(1, K * N, -1, 1);
        var direct = new float[w.Length];
        for (int k = 0; k < K; k++) for (int n = 0; n < N; n++) direct[k * N + n] = Edit(w[k * N + n], 0, k, n);
        CheckLayer((g, x, wv) => g.Op("MatMul", x, wv), [M, K], w, [K, N], (_, k, n) => w[k * N + n], direct, 1, K, N,
            layer => Assert.Equal((1, 1f, 1f, (Value?)null), (layer.OutputChannelAxis, layer.Alpha, layer.Beta, layer.Bias)));
    }

    [Fact]
    public void BatchedMatMul_ReadsOneKByNPerBatch_WithoutAnOutputChannelAxis()
    {
        const int G = 2, M = 3, K = 4, N = 5;
        var w = RandomFloats(2, G * K * N, -1, 1);
        var direct = new float[w.Length];
        for (int g = 0; g < G; g++) for (int k = 0; k < K; k++) for (int n = 0; n < N; n++)
            direct[(g * K + k) * N + n] = Edit(w[(g * K + k) * N + n], g, k, n);
        CheckLayer((g, x, wv) => g.Op("MatMul", x, wv), [G, M, K], w, [G, K, N], (g, k, n) => w[(g * K + k) * N + n], direct, G, K, N,
            layer => Assert.Equal(-1, layer.OutputChannelAxis));
    }

    [Theory]
    [InlineData(0, 1f, 1f, 0)]
    [InlineData(1, 1f, 1f, 0)]
    [InlineData(0, 0.5f, 2f, 1)]
    [InlineData(1, -1.5f, 0.25f, 1)]
    [InlineData(0, 2f, 1f, 2)]
    [InlineData(1, 1f, -3f, 2)]
    [InlineData(1, 0.75f, 1.5f, 3)]
    public void Gemm_ReadsKByN_ForEveryTransBAlphaBetaAndBias(int transB, float alpha, float beta, int biasForm)
    {
        // biasForm: 0 none, 1 C [N], 2 C [1, N], 3 scalar C.
        const int M = 3, K = 6, N = 4;
        var w = RandomFloats(3, K * N, -1, 1);
        var c = RandomFloats(4, N, -1, 1);
        long[] wDims = transB == 1 ? [N, K] : [K, N];
        int At(int k, int n) => transB == 1 ? n * K + k : k * N + n;
        var direct = new float[w.Length];
        for (int k = 0; k < K; k++) for (int n = 0; n < N; n++) direct[At(k, n)] = Edit(w[At(k, n)], 0, k, n);
        Tensor? bias = biasForm switch { 1 => Tensor.FromFloats(c, N), 2 => Tensor.FromFloats(c, 1, N), 3 => Tensor.FromFloats([c[0]]), _ => null };
        CheckLayer((g, x, wv) => g.Op("Gemm", [x, wv, bias is null ? null : g.Constant(bias, "c")],
                [Attribute.Int("transB", transB), Attribute.Float("alpha", alpha), Attribute.Float("beta", beta)]),
            [M, K], w, wDims, (_, k, n) => w[At(k, n)], direct, 1, K, N,
            layer =>
            {
                Assert.Equal((transB == 1, alpha, beta, transB == 1 ? 0 : 1), (layer.TransB, layer.Alpha, layer.Beta, layer.OutputChannelAxis));
                var expectedBias = Enumerable.Range(0, N).Select(n => biasForm switch { 0 => 0f, 3 => beta * c[0], _ => beta * c[n] }).ToArray();
                Assert.Equal(expectedBias, layer.ReadBias());
            });
    }

    [Fact]
    public void Gemm_WithTransA_IsRefusedWithItsReason()
    {
        var g = new GraphBuilder(opset: 17);
        var x = g.Input("x", DataType.Float, 4, 3);
        g.Output(g.Op("Gemm", [x, g.Constant(Tensor.FromFloats(RandomFloats(6, 8, -1, 1), 4, 2), "w")], [Attribute.Int("transA", 1)]), "y", DataType.Float);
        using var model = g.Build();
        Assert.Equal("it is a Gemm with transA = 1", LinearLayer.TryRead(model.Graph.Nodes.Single(), out var layer));
        Assert.Null(layer);
    }

    [Theory]
    [InlineData(1, 4, 6)]   // plain
    [InlineData(2, 4, 6)]   // two groups
    [InlineData(4, 4, 4)]   // depthwise
    [InlineData(4, 4, 8)]   // depthwise, channel multiplier 2
    public void Conv_ReadsIm2colBPerGroup(int group, int cin, int cout)
    {
        const int H = 5, W = 5, KH = 3, KW = 2;
        int cg = cin / group, ng = cout / group, k = cg * KH * KW;
        var w = RandomFloats(7, cout * cg * KH * KW, -1, 1);
        var bias = RandomFloats(8, cout, -1, 1);
        // k = (c·kh + i)·kw + j; output channel m = g·N + n.
        int At(int g, int kk, int n) => (g * ng + n) * k + kk;
        var direct = new float[w.Length];
        for (int g = 0; g < group; g++) for (int kk = 0; kk < k; kk++) for (int n = 0; n < ng; n++) direct[At(g, kk, n)] = Edit(w[At(g, kk, n)], g, kk, n);
        CheckLayer((gb, x, wv) => gb.Op("Conv", [x, wv, gb.Constant(Tensor.FromFloats(bias, cout), "b")],
                [Attribute.Int("group", group), Attribute.Ints("pads", [1, 0, 1, 1])]),
            [1, cin, H, W], w, [cout, cg, KH, KW], (g, kk, n) => w[At(g, kk, n)], direct, group, k, ng,
            layer =>
            {
                Assert.Equal(0, layer.OutputChannelAxis);
                Assert.Equal(bias, layer.ReadBias());
            });
    }

    private static (Model Model, Node A, Node B, Node C) SharedWeightModel()
    {
        var g = new GraphBuilder(opset: 17);
        var x = g.Input("x", DataType.Float, 2, 4);
        var w = g.Constant(Tensor.FromFloats(RandomFloats(9, 16, -1, 1), 4, 4), "shared_w");
        var a = g.Op("MatMul", [x, w], name: "a");
        var b = g.Op("MatMul", [a, w], name: "b");
        var c = g.Op("Gemm", [b, w], [Attribute.Int("transB", 1)], name: "c");
        g.Output(c, "y", DataType.Float);
        var model = g.Build();
        var nodes = model.Graph.Nodes.ToList();
        return (model, nodes[0], nodes[1], nodes[2]);
    }

    [Fact]
    public void SharedWeight_IsRefusedUnlessEveryReaderChangesAlike_AndSaysWhichReaderIsLeft()
    {
        var (model, a, b, c) = SharedWeightModel();
        using var _ = model;
        var la = Read(a);
        var lb = Read(b);
        var lc = Read(c);
        Assert.Equal("its weight %shared_w is also read by MatMul 'b' (input 1), which this edit does not change; " +
                     "change every reader alike or give each its own copy",
            LinearLayer.SharingConflict([la, lc]));
        var refused = Assert.Throws<InvalidOperationException>(() =>
            LinearLayer.ReplaceWeight(new Rewriter(model.Graph), [la], la.WeightFromRows(la.ReadRows())));
        Assert.Contains("also read by MatMul 'b'", refused.Message);
        Assert.Same(la.Weight, a.Inputs[1]);                // nothing changed

        Assert.Null(LinearLayer.SharingConflict([la, lb, lc]));
        var doubled = la.WeightTensor.ToFloatArray().Select(v => 2 * v).ToArray();
        var replacement = LinearLayer.ReplaceWeight(new Rewriter(model.Graph), [la, lb, lc], Tensor.FromFloats(doubled, 4, 4));
        Assert.All(new[] { a, b, c }, n => Assert.Same(replacement, n.Inputs[1]));
        Assert.Null(la.Weight.Graph);
        Verifier.Verify(model).ThrowIfInvalid("after ReplaceWeight");
    }

    [Fact]
    public void LayersReadingDifferentWeights_CannotShareOneReplacement()
    {
        var g = new GraphBuilder(opset: 17);
        var x = g.Input("x", DataType.Float, 2, 4);
        var y1 = g.Op("MatMul", x, g.Constant(Tensor.FromFloats(RandomFloats(10, 16, -1, 1), 4, 4), "w1"));
        var y2 = g.Op("MatMul", y1, g.Constant(Tensor.FromFloats(RandomFloats(11, 16, -1, 1), 4, 4), "w2"));
        g.Output(y2, "y", DataType.Float);
        using var model = g.Build();
        var layers = model.Graph.Nodes.Select(Read).ToList();
        Assert.Equal("MatMul reads weight %w2, not %w1: the layers changed together must share one weight", LinearLayer.SharingConflict(layers));
    }

    [Fact]
    public void NonConstantWeight_IsNotALinearLayer()
    {
        var g = new GraphBuilder(opset: 17);
        var x = g.Input("x", DataType.Float, 2, 4);
        var w = g.Input("w", DataType.Float, 4, 3);
        g.Output(g.Op("MatMul", x, w), "y", DataType.Float);
        using var model = g.Build();
        Assert.Equal("its weight %w is not a constant", LinearLayer.TryRead(model.Graph.Nodes.Single(), out _));
    }

    private static LinearLayer Read(Node node)
    {
        Assert.Null(LinearLayer.TryRead(node, out var layer));
        return layer!;
    }
}
