using OnnxQuant.Ir;
using OnnxQuant.Ir.Building;
using OnnxQuant.Ir.Numerics;
using OnnxQuant;
using OnnxQuant.Passes;
using OnnxQuant.Passes.Quantization;
using OnnxQuant.Runtime;
using OnnxQuant.Runtime.Audit;
using OnnxQuant.Tests.Support;
using static OnnxQuant.Tests.Quantization.QdqTestKit;

namespace OnnxQuant.Tests.Quantization;

/// <summary>
/// insert-qdq below eight bits: int4/uint4 QDQ, emulated widths 2–7 in 8-bit storage (a Clip keeps the codes within
/// 2^b), and float8 E4M3FN/E5M2. The codes (or, for float8, the dequantized values) ONNX Runtime computes are compared
/// with a reference written here from the ONNX definitions, on data that leaves the calibrated range on both sides.
/// </summary>
public class LowBitActivationTests
{
    private const int M = 16, K = 32, N = 8;
    private const float CalibMin = -1.5f, CalibMax = 2.5f;

    private static (Model Model, Dictionary<string, Tensor> Feeds) OneMatMul()
    {
        var b = new GraphBuilder(opset: 21);
        var x = b.Input("x", DataType.Float, M, K);
        b.Output(b.Op("MatMul", [x, b.Constant(Tensor.FromFloats(RandomFloats(5, K * N, -1, 1), K, N), "w")], name: "mm"), "y", DataType.Float, M, N);
        // Wider than the calibrated range, so that saturation and the Clip are exercised.
        var feeds = new Dictionary<string, Tensor> { ["x"] = Tensor.FromFloats(RandomFloats(6, M * K, -3, 4), M, K) };
        return (b.Build(), feeds);
    }

    private static DictionaryRanges Calibrated()
    {
        var ranges = new DictionaryRanges();
        ranges.Ranges["x"] = (CalibMin, CalibMax);
        return ranges;
    }

    /// <summary>
    /// The Q node of the activation x, and the x values and codes ORT produced. The codes are read back from the
    /// DequantizeLinear's output ((q − z)·s, exact in float for these small codes): ONNX Runtime's .NET API cannot
    /// return an int4 tensor.
    /// </summary>
    private static (Node Q, float[] X, double[] Codes) RunCodes(Model model, Dictionary<string, Tensor> feeds)
    {
        var q = model.Graph.Nodes.Single(n => n.OpType == "QuantizeLinear");
        var dq = model.Graph.Nodes.Single(n => n.OpType == "DequantizeLinear" && n.Inputs[0] == q.Output);
        float s = q.Inputs[1]!.Const!.ToFloatArray()[0];
        double z = q.Inputs[2]!.Const!.ToDoubleArray()[0];
        string name = dq.Output.Name!;
        using var runner = ModelRunner.FromModel(model, new RunnerOptions(), [name]);
        var values = runner.Run(feeds, [name])[name].ToFloatArray();
        return (q, feeds["x"].ToFloatArray(), values.Select(v => Math.Round(v / (double)s) + z).ToArray());
    }

    [Theory]
    [InlineData(QdqActivationType.UInt4, null, 0, 15)]
    [InlineData(QdqActivationType.Int4, null, -8, 7)]
    [InlineData(QdqActivationType.UInt8, 4, 0, 15)]
    [InlineData(QdqActivationType.UInt8, 2, 0, 3)]
    [InlineData(QdqActivationType.UInt8, 3, 0, 7)]
    [InlineData(QdqActivationType.Int8, 6, -32, 31)]
    [InlineData(QdqActivationType.UInt8, 7, 0, 127)]
    public void IntegerCodes_EqualTheReference_AndStayWithin2PowBCodes(QdqActivationType type, int? bits, int qmin, int qmax)
    {
        var (model, feeds) = OneMatMul();
        using var _ = model;
        var reference = NumericAssert.Run(model, feeds);
        var context = Context(Calibrated());

        VerifiedPass.Run(new InsertQdqPass(), model, new InsertQdqOptions { ActivationType = type, ActivationBits = bits }, context);

        // Reference: s = (max − min)/(qmax − qmin) on the range widened to 0, z = round(qmin − min/s).
        float s = (float)(((double)CalibMax - CalibMin) / (qmax - qmin));
        int z = (int)Math.Clamp(Math.Round(qmin - CalibMin / s, MidpointRounding.ToEven), qmin, qmax);
        var (q, x, codes) = RunCodes(model, feeds);
        Assert.Equal(s, q.Inputs[1]!.Const!.ToFloatArray()[0]);
        Assert.Equal(z, (int)q.Inputs[2]!.Const!.ToDoubleArray()[0]);
        int clipped = 0;
        for (int i = 0; i < x.Length; i++)
        {
            double expected = Math.Clamp(Math.Round((double)(x[i] / s), MidpointRounding.ToEven) + z, qmin, qmax);
            Assert.True(expected == codes[i], $"x = {x[i]}: code {codes[i]}, reference {expected}");
            if (expected == qmin || expected == qmax) clipped++;
        }
        Assert.True(clipped > 10, "the data must reach both ends of the code range");
        Assert.Equal(bits is null ? 0 : 1, model.Graph.Nodes.Count(n => n.OpType == "Clip"));
        Assert.Equal(bits is null ? 0 : 1, context.Counters.GetValueOrDefault("emulated-bits"));
        // The model still runs, and the fewer bits, the larger the error (but bounded: it is not garbage).
        var output = NumericAssert.Run(model, feeds);
        Assert.True(output["y"].ToFloatArray().Zip(reference["y"].ToFloatArray()).Max(p => Math.Abs(p.First - p.Second)) < K * 4.0);
    }

    [Theory]
    [InlineData(Float8Format.E4m3fn, DataType.Float8E4M3FN, 448)]
    [InlineData(Float8Format.E5m2, DataType.Float8E5M2, 57344)]
    public void Float8_ScaleIsAbsMaxOverTheFormatMax_AndValuesEqualTheReference(Float8Format format, DataType dataType, double formatMax)
    {
        var (model, feeds) = OneMatMul();
        using var _ = model;
        VerifiedPass.Run(new InsertQdqPass(), model, new InsertQdqOptions { ActivationType = QdqActivationType.Float8, Float8Format = format }, Context(Calibrated()));

        var q = model.Graph.Nodes.Single(n => n.OpType == "QuantizeLinear");
        var dq = model.Graph.Nodes.Single(n => n.OpType == "DequantizeLinear" && n.Inputs[0] == q.Output);
        Assert.Equal(dataType, q.Inputs[2]!.Const!.ElementType);
        float s = (float)(Math.Max(-CalibMin, CalibMax) / formatMax);
        Assert.Equal(s, q.Inputs[1]!.Const!.ToFloatArray()[0]);
        using var runner = ModelRunner.FromModel(model, new RunnerOptions(), [dq.Output.Name!]);
        var values = runner.Run(feeds, [dq.Output.Name!])[dq.Output.Name!].ToFloatArray();
        var x = feeds["x"].ToFloatArray();
        for (int i = 0; i < x.Length; i++)
        {
            // Saturating conversion (QuantizeLinear's default for float8), then times s.
            float expected = Float8.Decode(Float8.Encode(x[i] / s, dataType, saturate: true), dataType) * s;
            Assert.True(expected == values[i], $"x = {x[i]}: {values[i]}, reference {expected}");
        }
    }

    [Theory]
    [InlineData(QdqActivationType.UInt4, null)]
    [InlineData(QdqActivationType.Float8, null)]
    public void Audit_SaysTheLowBitMatMulIsNotFused(QdqActivationType type, int? bits)
    {
        var (model, feeds) = OneMatMul();
        using var _ = model;
        VerifiedPass.Run(new InsertQdqPass(), model, new InsertQdqOptions { ActivationType = type, ActivationBits = bits }, Context(Calibrated()));
        var report = FusionAudit.Run(model);
        Assert.Contains(report.UnfusedOnComputePath, u => u.Input is { } i && i.StartsWith("x_", StringComparison.Ordinal) && u.Consumers.Any(c => c.Contains("MatMul")));
        Assert.Equal(0, report.Kernels("QLinearMatMul") + report.Kernels("MatMulIntegerToFloat"));
    }

    [Fact]
    public void Int4_BelowOpset21_IsRefusedWithTheFix()
    {
        var b = new GraphBuilder(opset: 17);
        var x = b.Input("x", DataType.Float, M, K);
        b.Output(b.Op("MatMul", [x, b.Constant(Tensor.FromFloats(RandomFloats(5, K * N, -1, 1), K, N), "w")]), "y", DataType.Float, M, N);
        using var model = b.Build();
        var e = Assert.Throws<OnnxQuantException>(() =>
            new InsertQdqPass().Run(model, new InsertQdqOptions { ActivationType = QdqActivationType.UInt4 }, Context(Calibrated())));
        Assert.Contains("needs opset >= 21", e.Message);
        Assert.Contains("upgrade-opset", e.Message);
    }

    [Theory]
    [InlineData(QdqActivationType.UInt4, 6, "exceed activation-type uint4")]
    [InlineData(QdqActivationType.UInt8, 1, "2..8 bits")]
    [InlineData(QdqActivationType.Float8, 4, "does not apply")]
    public void BadBits_AreRefusedWithAMessage(QdqActivationType type, int bits, string message)
    {
        var (model, _) = OneMatMul();
        using var _ = model;
        var e = Assert.Throws<OnnxQuantException>(() =>
            new InsertQdqPass().Run(model, new InsertQdqOptions { ActivationType = type, ActivationBits = bits }, Context(Calibrated())));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void WeightBits4_GiveCodesWithin7_AndTheModelRuns()
    {
        var (model, feeds) = OneMatMul();
        using var _ = model;
        VerifiedPass.Run(new InsertQdqPass(), model, new InsertQdqOptions { WeightBits = 4 }, Context(Calibrated()));
        var w = model.Graph.Nodes.Single(n => n.OpType == "DequantizeLinear" && n.Inputs[0]!.IsConstant && n.Inputs[0]!.Const!.ElementType == DataType.Int8);
        var codes = w.Inputs[0]!.Const!.ToDoubleArray();
        Assert.Equal(7, codes.Max(Math.Abs));
        Assert.True(codes.Distinct().Count() > 8);
        NumericAssert.Run(model, feeds);
    }

    [Fact]
    public void Float8_DistributionScale_IsTheStdOfTheDataOverTheStdOfTheFormat()
    {
        var (model, _) = OneMatMul();
        using var _ = model;
        var samples = Enumerable.Range(0, 8).Select(i => (IReadOnlyDictionary<string, Tensor>)new Dictionary<string, Tensor>
            { ["x"] = Tensor.FromFloats(RandomFloats(20 + i, M * K, -2, 5), M, K) }).ToList();
        var all = samples.SelectMany(d => d["x"].ToFloatArray()).Select(v => (double)v).ToArray();
        double mean = all.Average(), std = Math.Sqrt(all.Select(v => (v - mean) * (v - mean)).Average());
        using var scratch = new ScratchFolder("f8");
        string recipe = "name: f8\npasses:\n  - calibrate: {method: percentile}\n  - insert-qdq: {activation-type: float8, float8-scale: distribution}\n";

        Quantizer.Quantize(model, scratch.File("f8.onnx"), new QuantizeOptions { Recipe = RecipeSource.Yaml(recipe), Calibration = CalibrationData.FromSamples(samples) });

        using var quantized = OnnxQuant.Ir.Serialization.OnnxReader.Read(scratch.File("f8.onnx"));
        var q = quantized.Graph.Nodes.Single(n => n.OpType == "QuantizeLinear");
        float scale = q.Inputs[1]!.Const!.ToFloatArray()[0];
        double expected = std / Passes.Calibration.QuantParams.Float8Std(DataType.Float8E4M3FN);
        // The histogram's bins (2048 over the range) put each value at its bin centre: well within 0.1%.
        Assert.InRange(scale / expected, 0.999, 1.001);
        // And it is not the range rule's max|x|/448.
        Assert.True(Math.Abs(scale - 5 / 448.0) > 0.1 * scale);
    }
}
