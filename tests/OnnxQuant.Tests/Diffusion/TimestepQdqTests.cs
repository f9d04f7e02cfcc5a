using OnnxQuant.Ir;
using OnnxQuant.Passes;
using OnnxQuant.Passes.Calibration;
using OnnxQuant.Passes.Quantization.Diffusion;
using OnnxQuant.Runtime;
using OnnxQuant.Runtime.Audit;
using OnnxQuant.Runtime.DataSources;

namespace OnnxQuant.Tests.Diffusion;

/// <summary>
/// insert-timestep-qdq on a denoiser-shaped graph whose activation range grows with t:
/// c = MatMul(t[:,None], Wc) (conditioning path), h = x·(1 + c) (range moves with t), m = MatMul(h, W1) (quantized),
/// out = MatMul(Relu(m), W2) (output layer). Inputs x float [N,3,8], t int64 [N].
/// </summary>
public sealed class TimestepQdqTests
{
    private const int K = 8;
    private static readonly float[] Wc = Enumerable.Range(0, K).Select(i => 0.002f + 0.0005f * i).ToArray();

    private static Model Denoiser()
    {
        var graph = new Graph { Name = "timestep_denoiser" };
        var n = Dim.Symbolic("N");
        var x = graph.AddInput("x", new TensorType(DataType.Float, new Shape([n, Dim.Known(3), Dim.Known(K)])));
        var t = graph.AddInput("t", new TensorType(DataType.Int64, new Shape([n])));
        var w1 = graph.AddConstant(Tensor.FromFloats(Enumerable.Range(0, K * K).Select(i => MathF.Sin(i * 0.7f)).ToArray(), K, K), "w1");
        var w2 = graph.AddConstant(Tensor.FromFloats(Enumerable.Range(0, K * 4).Select(i => MathF.Cos(i * 0.3f)).ToArray(), K, 4), "w2");
        var wc = graph.AddConstant(Tensor.FromFloats(Wc, 1, K), "wc");
        var one = graph.AddConstant(Tensor.FromFloats([1f], 1), "one");
        var column = graph.AddConstant(Tensor.FromInt64s([-1, 1], 2), "column");
        var row3 = graph.AddConstant(Tensor.FromInt64s([-1, 1, K], 3), "row3");
        var tf = graph.Append(new Node("Cast", [t], attributes: [OnnxQuant.Ir.Attribute.Int("to", (long)DataType.Float)], outputNames: ["tf"])).Output;
        var tc = graph.Append(new Node("Reshape", [tf, column], outputNames: ["tc"])).Output;
        var c = graph.Append(new Node("MatMul", [tc, wc], name: "cond_MatMul", outputNames: ["c"])).Output;
        var c3 = graph.Append(new Node("Reshape", [c, row3], outputNames: ["c3"])).Output;
        var gain = graph.Append(new Node("Add", [c3, one], outputNames: ["gain"])).Output;
        var h = graph.Append(new Node("Mul", [x, gain], outputNames: ["h"])).Output;
        var m = graph.Append(new Node("MatMul", [h, w1], name: "block_MatMul", outputNames: ["m"])).Output;
        var r = graph.Append(new Node("Relu", [m], outputNames: ["r"])).Output;
        var o = graph.Append(new Node("MatMul", [r, w2], name: "out_MatMul", outputNames: ["out"])).Output;
        o.Type = new TensorType(DataType.Float, new Shape([n, Dim.Known(3), Dim.Known(4)]));
        graph.Outputs.Add(o);
        var model = new Model(graph) { ProducerName = "onnxquant-tests" };
        model.SetOpset("", 17);
        return model;
    }

    /// <summary>One calibration sample per (t, seed): x uniform in [−1, 1], one batch row, all rows of a sample sharing t.</summary>
    private static Dictionary<string, Tensor> Sample(long t, int seed, int rows = 2)
    {
        var random = new Random(seed);
        var x = Enumerable.Range(0, rows * 3 * K).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        return new() { ["x"] = Tensor.FromFloats(x, rows, 3, K), ["t"] = Tensor.FromInt64s(Enumerable.Repeat(t, rows).ToArray(), rows) };
    }

    private static readonly long[] CalibrationTimesteps = [5, 120, 260, 480, 510, 700, 760, 999];

    private static (Model Model, PassContext Context, List<Dictionary<string, Tensor>> Samples) Quantized()
    {
        var samples = CalibrationTimesteps.SelectMany((t, i) => new[] { Sample(t, 10 * i), Sample(t, 10 * i + 1) }).ToList();
        var model = Denoiser();
        var context = new PassContext();
        context.SetAnalysis(new CalibrationSettings { Samples = new CalibrationSamples(samples, "test samples"), Source = new DataSourceOptions() });
        var result = new InsertTimestepQdqPass().Run(model,
            new InsertTimestepQdqOptions { Groups = 4, NumTrainTimesteps = 1000, ExcludeConditioningPath = true, ExcludeOutputLayers = true }, context);
        Assert.True(result.Modified);
        return (model, context, samples);
    }

    [Fact]
    public void SelectedScales_EqualTheCalibratedPerGroupRanges_ForEveryTimestepOfEachGroup()
    {
        var (model, _, samples) = Quantized();
        // C# reference: h = x·(1 + t·wc) per group of ⌊t/250⌋, min and max over the group's samples.
        var groups = new TimestepGroups(4, 1000);
        var lo = Enumerable.Repeat(float.PositiveInfinity, 4).ToArray();
        var hi = Enumerable.Repeat(float.NegativeInfinity, 4).ToArray();
        foreach (var s in samples)
        {
            long t = s["t"].AsSpan<long>()[0];
            int g = groups.Of(t);
            var x = s["x"].AsSpan<float>();
            for (int i = 0; i < x.Length; i++)
            {
                float h = x[i] * (t * Wc[i % K] + 1f);
                lo[g] = Math.Min(lo[g], h);
                hi[g] = Math.Max(hi[g], h);
            }
        }
        var q = model.Graph.Nodes.Single(n => n.OpType == "QuantizeLinear");
        string scaleName = q.Inputs[1]!.Name!, zeroName = q.Inputs[2]!.Name!;
        using var runner = ModelRunner.FromModel(model, extraOutputs: [scaleName, zeroName]);
        // Every group, at its edges and inside; t past the end clips to the last group.
        foreach (long t in new long[] { 0, 137, 249, 250, 499, 500, 626, 749, 750, 999, 1500 })
        {
            int g = Math.Min((int)(t / 250), 3);
            var outputs = runner.Run(Sample(t, 1234), [scaleName, zeroName]);
            // Min/max in float may differ from ORT's product by one rounding of the last bit: compare the parameters closely.
            var (scale, zero) = TimestepScaleSelector.Parameters(lo[g], hi[g]);
            float expectedScale = (Math.Max(hi[g], 0) - Math.Min(lo[g], 0)) / 255f;
            Assert.Equal(expectedScale, outputs[scaleName].AsSpan<float>()[0], expectedScale * 1e-5f);
            Assert.Equal(scale, outputs[scaleName].AsSpan<float>()[0], scale * 1e-5f);
            Assert.InRange(outputs[zeroName].AsSpan<byte>()[0], zero - 1, zero + 1);
        }
        // The groups really differ: the last group's range is several times the first's.
        Assert.True(hi[3] - lo[3] > 3 * (hi[0] - lo[0]), $"group ranges {hi[0] - lo[0]} and {hi[3] - lo[3]}");
    }

    [Fact]
    public void QuantizedDenoiser_HasTheFloatModelsInterface_RunsAsOrtIntegerKernel_AndStaysCloseToFloat()
    {
        var (model, context, _) = Quantized();
        var reference = Denoiser();
        Assert.Equal(reference.Graph.Inputs.Select(v => v.Name), model.Graph.Inputs.Select(v => v.Name));
        Assert.Equal(reference.Graph.Outputs.Select(v => v.Name), model.Graph.Outputs.Select(v => v.Name));
        // Structure: the conditioning MatMul and the output MatMul stay float, for the recorded reasons.
        Assert.Equal(1, context.Counters["conditioning-path"]);
        Assert.Equal(1, context.Counters["output-layer"]);
        Assert.Contains(model.Graph.Nodes, n => n.Name == "cond_MatMul");
        Assert.Contains(model.Graph.Nodes, n => n.Name == "out_MatMul");
        Assert.DoesNotContain(model.Graph.Nodes, n => n.Name == "block_MatMul");

        var audit = FusionAudit.Run(model);
        Assert.Equal(1, audit.Kernels("MatMulIntegerToFloat"));
        Assert.Empty(audit.UnfusedOnComputePath);

        foreach (long t in new long[] { 30, 400, 900 })
        {
            var feeds = Sample(t, 77);
            var expected = ModelRunner.RunOnce(reference, feeds)["out"].AsSpan<float>().ToArray();
            var actual = ModelRunner.RunOnce(model, feeds)["out"].AsSpan<float>().ToArray();
            double err = 0, norm = 0;
            for (int i = 0; i < expected.Length; i++)
            {
                err += (expected[i] - actual[i]) * (double)(expected[i] - actual[i]);
                norm += expected[i] * (double)expected[i];
            }
            double sqnr = 10 * Math.Log10(norm / err);
            Assert.True(sqnr > 30, $"t={t}: SQNR {sqnr:0.0} dB");
        }
    }

    /// <summary>
    /// The measurement behind the design (ONNX Runtime 1.32, CPU): a QDQ MatMul whose activation scale is gathered
    /// from a table by an index computed at run time fuses into the same integer kernel as with a constant scale
    /// (MatMulIntegerToFloat for a float output, QLinearMatMul when the output is quantized too): ORT's QDQ selectors
    /// need constant weights, not constant activation scales. So per-timestep scales cost no integer kernel.
    /// </summary>
    [Theory]
    [InlineData(false, false, "MatMulIntegerToFloat")]
    [InlineData(true, false, "MatMulIntegerToFloat")]
    [InlineData(false, true, "QLinearMatMul")]
    [InlineData(true, true, "QLinearMatMul")]
    public void OrtFusesQdqMatMul_AlsoWhenTheActivationScaleIsGatheredByAComputedIndex(bool computedScale, bool quantizedOutput, string kernel)
    {
        var graph = new Graph { Name = "qdq" };
        var x = graph.AddInput("x", new TensorType(DataType.Float, new Shape([Dim.Known(4), Dim.Known(K)])));
        var g = graph.AddInput("g", new TensorType(DataType.Int64, new Shape()));
        var wq = graph.AddConstant(Tensor.FromSpan(DataType.Int8, Enumerable.Range(0, K * K).Select(i => (sbyte)(i % 17 - 8)).ToArray(), [K, K]), "wq");
        var ws = graph.AddConstant(Tensor.FromFloats(Enumerable.Repeat(0.01f, K).ToArray(), K), "ws");
        var wz = graph.AddConstant(Tensor.FromSpan(DataType.Int8, new sbyte[K], [K]), "wz");
        var zero = graph.AddConstant(Tensor.FromSpan(DataType.UInt8, new byte[] { 128 }, []), "xz");
        Value scale;
        if (computedScale)
        {
            var table = graph.AddConstant(Tensor.FromFloats([0.01f, 0.02f, 0.04f], 3), "table");
            scale = graph.Append(new Node("Gather", [table, g], attributes: [OnnxQuant.Ir.Attribute.Int("axis", 0)], outputNames: ["xs"])).Output;
        }
        else scale = graph.AddConstant(Tensor.FromSpan(DataType.Float, new[] { 0.02f }, []), "xs");
        var xq = graph.Append(new Node("QuantizeLinear", [x, scale, zero], outputNames: ["xq"])).Output;
        var xd = graph.Append(new Node("DequantizeLinear", [xq, scale, zero], outputNames: ["xd"])).Output;
        var wd = graph.Append(new Node("DequantizeLinear", [wq, ws, wz], attributes: [OnnxQuant.Ir.Attribute.Int("axis", 1)], outputNames: ["wd"])).Output;
        var y = graph.Append(new Node("MatMul", [xd, wd], outputNames: ["y"])).Output;
        if (quantizedOutput)
        {
            var ys = graph.AddConstant(Tensor.FromSpan(DataType.Float, new[] { 0.05f }, []), "ys");
            var yq = graph.Append(new Node("QuantizeLinear", [y, ys, zero], outputNames: ["yq"])).Output;
            y = graph.Append(new Node("DequantizeLinear", [yq, ys, zero], outputNames: ["yd"])).Output;
        }
        y.Type = new TensorType(DataType.Float, new Shape([Dim.Known(4), Dim.Known(K)]));
        graph.Outputs.Add(y);
        using var model = new Model(graph) { ProducerName = "onnxquant-tests" };
        model.SetOpset("", 21);
        var audit = FusionAudit.Run(model);
        Assert.Equal(1, audit.Kernels(kernel));
        Assert.Equal(1, audit.IntegerKernels.Values.Sum());
        Assert.Empty(audit.UnfusedOnComputePath);
    }
}
