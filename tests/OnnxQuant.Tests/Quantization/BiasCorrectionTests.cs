using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Passes;
using OnnxQuant.Passes.Calibration;
using OnnxQuant.Passes.Quantization;
using OnnxQuant.Passes.Quantization.BiasCorrection;
using OnnxQuant.Passes.Recipes;
using OnnxQuant.Runtime;
using OnnxQuant.Runtime.DataSources;
using OnnxQuant.Tests.Fusion;

namespace OnnxQuant.Tests.Quantization;

/// <summary>
/// bias-correction against a reference computed here: E[x] straight from the calibration samples, Ŵ from the int8
/// codes and scales insert-qdq wrote, Δ_o = Σ (W − Ŵ)·E[x]; the corrected bias must be the uncorrected one plus Δ
/// (to within the int32 bias's rounding), and the quantized output's per-channel mean closer to the float one.
/// </summary>
public class BiasCorrectionTests
{
    private const int Samples = 8;

    private static List<IReadOnlyDictionary<string, Tensor>> Inputs(string name, long[] dims, int seed)
    {
        var random = new Random(seed);
        long count = dims.Aggregate(1L, (a, b) => a * b);
        return Enumerable.Range(0, Samples).Select(_ => (IReadOnlyDictionary<string, Tensor>)new Dictionary<string, Tensor>
        {
            [name] = Tensor.FromFloats(Enumerable.Range(0, (int)count).Select(_ => (float)random.NextDouble() * 2 - 1).ToArray(), dims),
        }).ToList();
    }

    private static PassContext Quantize(Model model, List<IReadOnlyDictionary<string, Tensor>> samples, bool correct)
    {
        var context = new PassContext();
        context.SetAnalysis(new CalibrationSettings { Samples = new CalibrationSamples(samples) });
        var steps = new List<PipelineStep> { new PassStep(new CalibratePass()), new PassStep(new InsertQdqPass()) };
        if (correct) steps.Add(new PassStep(new BiasCorrectionPass()));
        new PassManager(steps).Run(model, context);
        return context;
    }

    private static float[] Dequantized(Value v)
    {
        var dq = v.Producer!;
        Assert.Equal("DequantizeLinear", dq.OpType);
        var codes = dq.Inputs[0]!.Const!.ToDoubleArray();
        var scales = dq.Inputs[1]!.Const!.ToFloatArray();
        // Weights here are per output channel on axis 0 (Conv [M, …], Gemm transB [N, K]); biases one value per channel.
        return codes.Select((q, i) => (float)q * scales[scales.Length == 1 ? 0 : (int)(i / (scales.Length == 1 ? 1 : codes.Length / scales.Length))]).ToArray();
    }

    /// <summary>x + offset (per channel, so E[x] is far from 0) → Conv with bias: the int32 bias moves by Δ.</summary>
    [Fact]
    public void ConvBias_MovesByTheReferenceCorrection_AndTheOutputMeanGetsCloser()
    {
        float[] offset = [2f, -3f, 0.5f, 4f];
        Model Build(out float[] w, out Node conv)
        {
            var g = new FusionTestGraph(21, seed: 3);
            var x = g.Op("Add", g.Input("x", 1, 4, 8, 8), g.Const(offset, 1, 4, 1, 1));
            var weight = g.Random(-1, 1, 6, 4, 3, 3);
            w = weight.Const!.ToFloatArray();
            conv = g.Node("Conv", [x, weight, g.Random(-0.5f, 0.5f, 6)], OnnxQuant.Ir.Attribute.Ints("pads", [1, 1, 1, 1]));
            g.Output(conv.Output);
            return g.Model;
        }
        var samples = Inputs("x", [1, 4, 8, 8], 1);
        using var floatModel = Build(out var w, out _);
        using var plain = Build(out _, out var plainConv);
        using var corrected = Build(out _, out var correctedConv);
        Quantize(plain, samples, correct: false);
        var context = Quantize(corrected, samples, correct: true);

        Assert.Equal(1, context.Counters.GetValueOrDefault("bias-correction.corrected"));
        // Reference: E[x_c] over every sample and position, Ŵ from the int8 codes.
        var mean = new double[4];
        foreach (var s in samples)
        {
            var v = s["x"].ToFloatArray();
            for (int i = 0; i < v.Length; i++) mean[i / 64] += (v[i] + offset[i / 64]) / (64.0 * Samples);
        }
        var wHat = Dequantized(plainConv.Inputs[1]!);
        var before = Dequantized(plainConv.Inputs[2]!);
        var after = Dequantized(correctedConv.Inputs[2]!);
        var biasScales = plainConv.Inputs[2]!.Producer!.Inputs[1]!.Const!.ToFloatArray();
        double largest = 0;
        for (int o = 0; o < 6; o++)
        {
            double delta = 0;
            for (int c = 0; c < 4; c++)
                for (int p = 0; p < 9; p++)
                {
                    int i = (o * 4 + c) * 9 + p;
                    delta += ((double)w[i] - wHat[i]) * mean[c];
                }
            largest = Math.Max(largest, Math.Abs(delta));
            Assert.Equal(before[o] + delta, after[o], biasScales[o] * 0.51 + 1e-4 * Math.Abs(delta));
        }
        Assert.True(largest > 10 * biasScales.Max(), $"the correction ({largest}) is too small to test");

        // E[y_q] − E[y] per channel, on the calibration samples: smaller after the correction.
        double Drift(Model q)
        {
            var options = new RunnerOptions { Optimization = OptimizationLevel.None };
            var drift = new double[6];
            foreach (var s in samples)
            {
                var f = ModelRunner.RunOnce(floatModel, s, options).Values.Single().ToFloatArray();
                var y = ModelRunner.RunOnce(q, s, options).Values.Single().ToFloatArray();
                for (int i = 0; i < f.Length; i++) drift[i / 64] += (y[i] - f[i]) / (64.0 * Samples);
            }
            return drift.Sum(Math.Abs);
        }
        Assert.True(Drift(corrected) < Drift(plain), $"drift {Drift(corrected)} after vs {Drift(plain)} before");
    }

    /// <summary>A Gemm (transB) without a bias gets one, int32 at s_x·s_w, holding Δ.</summary>
    [Fact]
    public void GemmWithoutBias_GetsOneHoldingTheCorrection()
    {
        var g = new FusionTestGraph(21, seed: 4);
        var x = g.Op("Add", g.Input("x", 3, 16), g.Const(Enumerable.Range(0, 16).Select(i => (float)(i % 5) - 2).ToArray(), 16));
        var weight = g.Random(-1, 1, 8, 16);
        var w = weight.Const!.ToFloatArray();
        var gemm = g.Node("Gemm", [x, weight], OnnxQuant.Ir.Attribute.Int("transB", 1));
        g.Output(g.Op("Relu", gemm.Output));
        var samples = Inputs("x", [3, 16], 2);

        var context = Quantize(g.Model, samples, correct: true);

        Assert.Equal(1, context.Counters.GetValueOrDefault("bias-correction.bias-added"));
        Assert.Equal(3, gemm.Inputs.Count);
        var mean = new double[16];
        foreach (var s in samples)
        {
            var v = s["x"].ToFloatArray();
            for (int i = 0; i < v.Length; i++) mean[i % 16] += (v[i] + (float)(i % 16 % 5) - 2) / (3.0 * Samples);
        }
        var wHat = Dequantized(gemm.Inputs[1]!);
        var bias = Dequantized(gemm.Inputs[2]!);
        var scales = gemm.Inputs[2]!.Producer!.Inputs[1]!.Const!.ToFloatArray();
        for (int n = 0; n < 8; n++)
        {
            double delta = Enumerable.Range(0, 16).Sum(k => ((double)w[n * 16 + k] - wHat[n * 16 + k]) * mean[k]);
            Assert.Equal(delta, bias[n], scales[scales.Length == 1 ? 0 : n] * 0.51 + 1e-4 * Math.Abs(delta));
        }
    }

    /// <summary>A 3-D MatMul exported with its bias as a following Add of a [N] constant: Δ goes into that constant.</summary>
    [Fact]
    public void MatMulThenAddOfAConstant_TheAddsConstantMovesByTheCorrection()
    {
        var g = new FusionTestGraph(21, seed: 5);
        var x = g.Op("Add", g.Input("x", 1, 3, 16), g.Const(Enumerable.Range(0, 16).Select(i => (float)(i % 5) - 2).ToArray(), 16));
        var weight = g.Random(-1, 1, 16, 8);
        var w = weight.Const!.ToFloatArray();
        var matMul = g.Node("MatMul", [x, weight]);
        var b = g.Random(-0.5f, 0.5f, 8);
        var before = b.Const!.ToFloatArray();
        var add = g.Node("Add", [matMul.Output, b]);
        g.Output(g.Op("Relu", add.Output));
        var samples = Inputs("x", [1, 3, 16], 2);

        var context = Quantize(g.Model, samples, correct: true);

        Assert.Equal(1, context.Counters.GetValueOrDefault("bias-correction.corrected"));
        var mean = new double[16];
        foreach (var s in samples)
        {
            var v = s["x"].ToFloatArray();
            for (int i = 0; i < v.Length; i++) mean[i % 16] += (v[i] + (float)(i % 16 % 5) - 2) / (3.0 * Samples);
        }
        // MatMul weights [K, N] are quantized per output channel (axis 1).
        var dq = matMul.Inputs[1]!.Producer!;
        var codes = dq.Inputs[0]!.Const!.ToDoubleArray();
        var scales = dq.Inputs[1]!.Const!.ToFloatArray();
        var after = add.Inputs[1]!.Const!.ToFloatArray();
        double largest = 0;
        for (int n = 0; n < 8; n++)
        {
            double delta = Enumerable.Range(0, 16).Sum(k => ((double)w[k * 8 + n] - codes[k * 8 + n] * scales[n]) * mean[k]);
            largest = Math.Max(largest, Math.Abs(delta));
            Assert.Equal(before[n] + delta, after[n], 1e-5);
        }
        Assert.True(largest > 1e-4, $"the correction ({largest}) is too small to test");
    }

    // ---- must not fire ----

    [Fact]
    public void AMatMulWithoutBias_IsLeftAlone_SayingSo()
    {
        var g = new FusionTestGraph(21);
        g.Output(g.Op("Relu", g.Op("MatMul", g.Op("Relu", g.Input("x", 3, 16)), g.Random(-1, 1, 16, 8))));

        var context = Quantize(g.Model, Inputs("x", [3, 16], 1), correct: true);

        Assert.Contains("a MatMul without a bias and without an Add of a per-channel constant after it (adding one would not be free)", context.Misses["bias-correction.bias"].Keys);
        Assert.Equal(0, context.Counters.GetValueOrDefault("bias-correction.corrected"));
    }

    [Fact]
    public void WithoutInsertQdqBeforeIt_NothingIsCorrected_SayingWhy()
    {
        var g = new FusionTestGraph(21);
        g.Output(g.Op("Relu", g.Op("Gemm", g.Op("Relu", g.Input("x", 3, 16)), g.Random(-1, 1, 16, 8), g.Random(-1, 1, 8))));
        var bytes = OnnxWriter.ToBytes(g.Model);
        var context = new PassContext();
        context.SetAnalysis(new CalibrationSettings { Samples = new CalibrationSamples(Inputs("x", [3, 16], 1)) });

        new PassManager([new PassStep(new CalibratePass()), new PassStep(new BiasCorrectionPass())]).Run(g.Model, context);

        Assert.Equal(bytes, OnnxWriter.ToBytes(g.Model));
        Assert.Contains("its weight is not a DequantizeLinear made by insert-qdq in this run (bias-correction follows insert-qdq)",
            context.Misses["bias-correction.bias"].Keys);
    }

    [Fact]
    public void W8A8Equalized_EndsWithBiasCorrection()
    {
        var names = RecipeLoader.LoadFileOrPreset("w8a8-equalized").Passes.Select(p => p.Name).ToList();
        Assert.Equal(["equalize", "calibrate", "insert-qdq", "bias-correction"], names.Skip(names.IndexOf("equalize")));
    }
}
