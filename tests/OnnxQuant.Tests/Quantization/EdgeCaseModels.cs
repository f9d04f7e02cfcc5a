using OnnxQuant.Ir;
using OnnxQuant.Ir.Building;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Tests.Calibration;
using OnnxQuant.Tests.Support;
using static OnnxQuant.Tests.Quantization.QdqTestKit;

namespace OnnxQuant.Tests.Quantization;

/// <summary>
/// Tiny seeded models with the numerical edge cases of issue 17 (huge biases over tiny or all-zero weights, NaN
/// weights), their calibration data as .npy, and the output SQNR of a quantized copy against the float model in ORT.
/// </summary>
internal static class EdgeCaseModels
{
    public const int Samples = 16;

    /// <summary>x[1, 32] → Gemm(W ~ ±1e-6, bias ~ ±1e3) → y[1, 16]: the bias dwarfs the product and does not fit int32 at s_x·s_w.</summary>
    public static Model GemmWithTinyWeights()
    {
        var b = new GraphBuilder(opset: 17);
        var x = b.Input("x", DataType.Float, 1, 32);
        var w = b.Constant(Tensor.FromFloats(RandomFloats(171, 32 * 16, -1e-6f, 1e-6f), 32, 16), "w");
        var bias = b.Constant(Tensor.FromFloats(RandomFloats(172, 16, -1e3f, 1e3f), 16), "bias");
        b.Output(b.Op("Gemm", x, w, bias), "y", DataType.Float, 1, 16);
        return b.Build();
    }

    /// <summary>x[1, 32] → MatMul(W ~ ±1e-6) → Add(bias ~ ±1e3) → y: fuse-matmul-add makes it a Gemm with the same bias.</summary>
    public static Model MatMulAddWithTinyWeights()
    {
        var b = new GraphBuilder(opset: 17);
        var x = b.Input("x", DataType.Float, 1, 32);
        var w = b.Constant(Tensor.FromFloats(RandomFloats(173, 32 * 16, -1e-6f, 1e-6f), 32, 16), "w");
        var bias = b.Constant(Tensor.FromFloats(RandomFloats(174, 16, -1e3f, 1e3f), 16), "bias");
        b.Output(b.Op("Add", b.Op("MatMul", x, w), bias), "y", DataType.Float, 1, 16);
        return b.Build();
    }

    /// <summary>
    /// x[1, 4, 8, 8] → Conv 3×3 (8 channels) → BatchNormalization whose channel 2 has γ = 0 and β = 5 → y. Folded into
    /// the Conv (fold-batch-norm) channel 2's weights are all zero (weight scale 2⁻¹²⁶) and its bias is 5.
    /// </summary>
    public static Model ConvWithZeroGammaBatchNorm()
    {
        var b = new GraphBuilder(opset: 17);
        var x = b.Input("x", DataType.Float, 1, 4, 8, 8);
        var w = b.Constant(Tensor.FromFloats(RandomFloats(175, 8 * 4 * 3 * 3, -0.5f, 0.5f), 8, 4, 3, 3), "w");
        var conv = b.Op("Conv", [x, w], [Attribute.Ints("pads", [1, 1, 1, 1])]);
        float[] gamma = RandomFloats(176, 8, 0.5f, 1.5f);
        gamma[2] = 0;
        float[] beta = RandomFloats(177, 8, -1, 1);
        beta[2] = 5;
        var bn = b.Op("BatchNormalization", conv, b.Constant(Tensor.FromFloats(gamma, 8), "gamma"), b.Constant(Tensor.FromFloats(beta, 8), "beta"),
            b.Constant(Tensor.FromFloats(RandomFloats(178, 8, -0.2f, 0.2f), 8), "mean"), b.Constant(Tensor.FromFloats(RandomFloats(179, 8, 0.5f, 2f), 8), "var"));
        b.Output(bn, "y", DataType.Float, 1, 8, 8, 8);
        return b.Build();
    }

    /// <summary>
    /// A depthwise Conv (group 8) with a bias: channel 1's weights all zero, channel 5's subnormal (1e-40), both with
    /// bias 3; the others ordinary.
    /// </summary>
    public static Model DepthwiseConvWithZeroAndSubnormalChannels()
    {
        var b = new GraphBuilder(opset: 17);
        var x = b.Input("x", DataType.Float, 1, 8, 8, 8);
        float[] w = RandomFloats(180, 8 * 9, -0.5f, 0.5f);
        for (int k = 0; k < 9; k++)
        {
            w[1 * 9 + k] = 0;
            w[5 * 9 + k] = 1e-40f;
        }
        float[] bias = RandomFloats(181, 8, -0.5f, 0.5f);
        bias[1] = 3;
        bias[5] = 3;
        var conv = b.Op("Conv", [x, b.Constant(Tensor.FromFloats(w, 8, 1, 3, 3), "w"), b.Constant(Tensor.FromFloats(bias, 8), "bias")],
            [Attribute.Int("group", 8), Attribute.Ints("pads", [1, 1, 1, 1])]);
        b.Output(conv, "y", DataType.Float, 1, 8, 8, 8);
        return b.Build();
    }

    /// <summary>x[1, 32] → Gemm(w1) → Relu → Gemm(w2) → y[1, 32]; <paramref name="poison"/> is written into w1[3] (NaN or ±∞).</summary>
    public static Model TwoGemmsWithPoisonedWeight(float poison)
    {
        var b = new GraphBuilder(opset: 17);
        var x = b.Input("x", DataType.Float, 1, 32);
        float[] w1 = RandomFloats(182, 32 * 32, -0.5f, 0.5f);
        w1[3] = poison;
        var h = b.Op("Relu", b.Op("Gemm", [x, b.Constant(Tensor.FromFloats(w1, 32, 32), "poisoned_weight")], null, name: "first_gemm"));
        var y = b.Op("Gemm", [h, b.Constant(Tensor.FromFloats(RandomFloats(183, 32 * 32, -0.5f, 0.5f), 32, 32), "w2")], null, name: "second_gemm");
        b.Output(y, "y", DataType.Float, 1, 32);
        return b.Build();
    }

    /// <summary>Writes <paramref name="model"/> and <see cref="Samples"/> seeded samples in [−1, 1] for its single input.</summary>
    public static (string Model, string Data, float[] Values) Write(Model model, ScratchFolder folder, int seed = 190)
    {
        OnnxWriter.Write(model, folder.File("m.onnx"));
        var input = model.Graph.Inputs.Single();
        long[] sample = input.Shape!.Dims.Skip(1).Select(d => d.Value!.Value).ToArray();
        int size = (int)sample.Aggregate(1L, (a, d) => a * d);
        float[] values = RandomFloats(seed, Samples * size, -1, 1);
        NpyFiles.WriteFloats(folder.File("x.npy"), [Samples, .. sample], values);
        return (folder.File("m.onnx"), folder.File("x.npy"), values);
    }

    /// <summary>
    /// Output SQNR (dB) of the quantized model at <paramref name="quantized"/> against the float one at
    /// <paramref name="original"/>, over every sample of <paramref name="all"/> (10·log10 Σy² / Σ(y − ŷ)²).
    /// </summary>
    public static double OutputSqnrDb(string original, string quantized, float[] all)
    {
        using var f = OnnxReader.Read(original);
        using var q = OnnxReader.Read(quantized);
        long[] inputDims = f.Graph.Inputs.Single().Shape!.Dims.Select(d => d.Value!.Value).ToArray();
        int size = (int)inputDims.Aggregate(1L, (a, d) => a * d);
        string input = f.Graph.Inputs.Single().Name!;
        double signal = 0, noise = 0;
        for (int s = 0; s < all.Length / size; s++)
        {
            var feeds = new Dictionary<string, Tensor> { [input] = Tensor.FromFloats(all.AsSpan(s * size, size).ToArray(), inputDims) };
            var expected = NumericAssert.Run(f, feeds).Values.Single().ToFloatArray();
            var actual = NumericAssert.Run(q, feeds).Values.Single().ToFloatArray();
            for (int i = 0; i < expected.Length; i++)
            {
                signal += (double)expected[i] * expected[i];
                noise += ((double)expected[i] - actual[i]) * ((double)expected[i] - actual[i]);
            }
        }
        return 10 * Math.Log10(signal / noise);
    }
}
