using OnnxQuant.Ir;
using OnnxQuant.Passes;
using OnnxQuant.Passes.Quantization;
using OnnxQuant.Runtime;
using OnnxQuant.Runtime.Audit;

namespace OnnxQuant.Tests.Quantization;

/// <summary>
/// Helpers for the QDQ tests: seeded tensors, ranges measured by running the float model in ORT (a stand-in for
/// calibration), running the pass, and an independent fake-quant arithmetic (written here, not taken from the pass).
/// </summary>
internal static class QdqTestKit
{
    public static float[] RandomFloats(int seed, int count, float low, float high)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => low + (float)random.NextDouble() * (high - low)).ToArray();
    }

    /// <summary>Min/max of every input and node output of the main graph on <paramref name="feeds"/> (ORT, optimizations off).</summary>
    public static DictionaryRanges MeasureRanges(Model model, IReadOnlyDictionary<string, Tensor> feeds)
    {
        var names = model.Graph.Nodes.SelectMany(n => n.Outputs).Where(v => v?.Name is not null).Select(v => v!.Name!).ToList();
        using var runner = ModelRunner.FromModel(model, new RunnerOptions(), names);
        var outputs = runner.Run(feeds, names.Union(model.Graph.Outputs.Select(o => o.Name!)).ToList());
        var ranges = new DictionaryRanges();
        foreach (var (name, t) in feeds.Concat(outputs))
        {
            var v = t.ToFloatArray();
            ranges.Ranges[name] = (v.Min(), v.Max());
        }
        return ranges;
    }

    public static PassContext Context(IActivationRanges ranges)
    {
        var context = new PassContext();
        context.SetAnalysis(ranges);
        return context;
    }

    public static int Count(Model model, string opType) => model.Graph.AllNodes().Count(n => n.OpType == opType);

    /// <summary>uint8 asymmetric (scale, zero point) of [min, max] widened to include 0: s = (max − min)/255, z = round(−min/s).</summary>
    public static (float Scale, int Zero) Uint8Params(float min, float max)
    {
        min = Math.Min(min, 0);
        max = Math.Max(max, 0);
        float s = (max - min) / 255f;
        return (s, (int)Math.Clamp(Math.Round(-min / s, MidpointRounding.ToEven), 0, 255));
    }

    /// <summary>Quantize then dequantize one value (round half to even, saturating).</summary>
    public static double FakeQuant(float x, float scale, int zero, int qmin, int qmax) =>
        (Math.Clamp(Math.Round(x / scale, MidpointRounding.ToEven) + zero, qmin, qmax) - zero) * (double)scale;

    /// <summary>Per-channel symmetric int8 fake quantization of <paramref name="w"/> along <paramref name="axis"/>; also returns the scales.</summary>
    public static (double[] Values, float[] Scales) FakeQuantWeight(float[] w, long[] dims, int axis)
    {
        long channels = dims[axis], inner = dims.Skip(axis + 1).Aggregate(1L, (a, b) => a * b);
        var scales = new float[channels];
        for (long i = 0; i < w.Length; i++) scales[i / inner % channels] = Math.Max(scales[i / inner % channels], Math.Abs(w[i]));
        for (int c = 0; c < channels; c++) scales[c] /= 127f;
        var values = new double[w.Length];
        for (long i = 0; i < w.Length; i++) values[i] = FakeQuant(w[i], scales[i / inner % channels], 0, -127, 127);
        return (values, scales);
    }

    /// <summary>Asserts |expected − actual| ≤ <paramref name="step"/> for every element.</summary>
    public static void WithinStep(double[] expected, Tensor actual, double step, string what)
    {
        var a = actual.ToFloatArray();
        Assert.Equal(expected.Length, a.Length);
        double worst = 0;
        for (int i = 0; i < a.Length; i++) worst = Math.Max(worst, Math.Abs(expected[i] - a[i]));
        Assert.True(worst <= step, $"{what}: max |reference - ORT| = {worst:G4} exceeds one quantization step {step:G4}.");
        Assert.True(expected.Any(e => Math.Abs(e) > 10 * step), $"{what}: the reference is too small for the comparison to prove anything.");
    }

    /// <summary>The fusion audit of <paramref name="model"/>, asserting that no DequantizeLinear is left on a MatMul/Gemm/Conv.</summary>
    public static FusionAuditReport AuditFused(Model model)
    {
        var report = FusionAudit.Run(model);
        Assert.True(report.UnfusedOnComputePath.Count == 0, "Unfused on the compute path:\n" + report);
        return report;
    }
}
