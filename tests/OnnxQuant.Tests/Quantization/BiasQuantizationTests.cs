using FsCheck.Xunit;
using OnnxQuant.Ir;
using OnnxQuant.Ir.Building;
using OnnxQuant.Passes;
using OnnxQuant.Passes.Quantization;
using static OnnxQuant.Tests.Quantization.QdqTestKit;

using OnnxQuant.Tests.Support;

namespace OnnxQuant.Tests.Quantization;

/// <summary>
/// The int32 bias of insert-qdq over random weights, biases and activation ranges (FsCheck, fixed replay seed): no
/// code ever saturates without a recorded warning, the dequantized bias stays within half a step of the float one,
/// and a weight scale is widened only when the bias needs it, which is then counted.
/// </summary>
public class BiasQuantizationTests
{
    private const string Seed = "(20261207,1717)";
    private const int K = 8, N = 6;

    [Property(MaxTest = 300, Replay = Seed, QuietOnSuccess = true)]
    public void NoInt32BiasSaturatesWithoutARecordedWarning(int seed, byte weightExp, byte biasExp, byte rangeExp, byte zeroChannels, bool perTensor)
    {
        var random = new Random(seed);
        // Weights from 1 down to 1e-39 (subnormal), some channels all zero; biases up to ±1e6; activation ranges 1e-30..1e3.
        double wMag = Math.Pow(10, -(weightExp % 40));
        double bMag = Math.Pow(10, biasExp % 10 - 3);
        double xMag = Math.Pow(10, 3 - rangeExp % 34);
        float[] w = Enumerable.Range(0, K * N).Select(_ => (float)((random.NextDouble() * 2 - 1) * wMag)).ToArray();
        for (int n = 0; n < N; n++)
            if ((zeroChannels >> n & 1) == 1)
                for (int k = 0; k < K; k++) w[k * N + n] = 0;
        float[] bias = Enumerable.Range(0, N).Select(_ => (float)((random.NextDouble() * 2 - 1) * bMag)).ToArray();

        var b = new GraphBuilder(opset: 17);
        var x = b.Input("x", DataType.Float, 1, K);
        b.Output(b.Op("Gemm", x, b.Constant(Tensor.FromFloats(w, K, N), "w"), b.Constant(Tensor.FromFloats(bias, N), "bias")), "y", DataType.Float, 1, N);
        using var model = b.Build();
        var ranges = new DictionaryRanges();
        ranges.Ranges["x"] = ((float)(-0.3 * xMag), (float)xMag);
        var context = Context(ranges);
        var options = new InsertQdqOptions { WeightGranularity = perTensor ? QdqWeightGranularity.PerTensor : QdqWeightGranularity.PerChannel };
        Assert.True(VerifiedPass.Run(new InsertQdqPass(), model, options, context).Modified);

        var gemm = model.Graph.Nodes.Single(n => n.OpType == "Gemm");
        var biasDq = gemm.Inputs[2]!.Producer!;
        int[] codes = biasDq.Inputs[0]!.Const!.AsSpan<int>().ToArray();
        float[] biasScales = biasDq.Inputs[1]!.Const!.AsSpan<float>().ToArray();
        bool saturated = codes.Any(q => Math.Abs((long)q) >= int.MaxValue);
        long warned = context.Counters.GetValueOrDefault("bias-saturated");
        Assert.True(!saturated || warned > 0, $"a bias code saturated without a warning: [{string.Join(", ", codes)}]");
        // Float32 scales can always be widened: nothing saturates, and each code is the float bias to half a step.
        Assert.False(saturated);
        for (int n = 0; n < N; n++)
        {
            double step = biasScales[biasScales.Length == 1 ? 0 : n];
            Assert.True(Math.Abs(codes[n] * step - bias[n]) <= 0.5 * step * (1 + 1e-6) + 1e-30, $"channel {n}: {codes[n]}·{step} vs {bias[n]}");
        }
        // Widened weight scales are counted; unwidened ones are max|w|/127 (floored), as without a bias.
        float[] weightScales = gemm.Inputs[1]!.Producer!.Inputs[1]!.Const!.AsSpan<float>().ToArray();
        float Natural(IEnumerable<float> values) => Math.Max((float)(values.Max(v => Math.Abs((double)v)) / 127), QdqMath.MinScaleFloat);
        float[] natural = perTensor ? [Natural(w)] : Enumerable.Range(0, N).Select(n => Natural(Enumerable.Range(0, K).Select(k => w[k * N + n]))).ToArray();
        int widened = weightScales.Zip(natural).Count(p => p.First != p.Second);
        Assert.Equal(widened, context.Counters.GetValueOrDefault("bias-widened-channels"));
        Assert.All(weightScales.Zip(natural), p => Assert.True(p.First >= p.Second));
    }

    [Fact]
    public void AnOrdinaryBias_LeavesTheWeightScalesAlone()
    {
        float[] scales = [0.01f, 0.02f];
        var result = BiasQuantization.WidenWeightScales(0.05f, scales, [1f, -2f], DataType.Float, out int widened);
        Assert.Same(scales, result);
        Assert.Equal(0, widened);
    }

    [Fact]
    public void AnAllZeroChannelWithABias_GetsTheSmallestWeightScaleThatFitsIt()
    {
        // Weight scale 2^-126 (all-zero weights), input scale 0.01: 5 / (0.01·2^-126) is far beyond int32.
        float[] scales = [QdqMath.MinScaleFloat, 0.01f];
        var result = BiasQuantization.WidenWeightScales(0.01f, scales, [5f, 1f], DataType.Float, out int widened);
        Assert.Equal(1, widened);
        Assert.Equal(0.01f, result[1]);
        double needed = 5.0 / int.MaxValue / 0.01;
        Assert.InRange(result[0], needed, needed * 1.001);
        var q = BiasQuantization.Quantize([5f, 1f], 0.01f, result, DataType.Float);
        Assert.Equal(0, q.Saturated);
        Assert.Equal(5.0, q.Codes[0] * (double)q.Scales[0], 5e-6);
    }

    [Fact]
    public void ABiasNoFloat16ScaleCanHold_IsReportedSaturated()
    {
        // Float16 scales stop at 65504: s_x = 6.1e-5 (the float16 floor) and |b| = 65504 would need s_w ≈ 0.5 — fine —
        // but with s_x at the floor and a float32 bias of 1e30 no float16 weight scale is wide enough.
        float[] scales = [QdqMath.MinScaleFloat16];
        var result = BiasQuantization.WidenWeightScales(QdqMath.MinScaleFloat16, scales, [1e30f], DataType.Float16, out int widened);
        Assert.Equal(0, widened);
        var q = BiasQuantization.Quantize([1e30f], QdqMath.MinScaleFloat16, result, DataType.Float16);
        Assert.Equal(1, q.Saturated);
        Assert.Equal(int.MaxValue, q.Codes[0]);
    }
}
