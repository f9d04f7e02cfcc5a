using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Tests.Calibration;
using OnnxQuant.Tests.Cli;
using static OnnxQuant.Tests.Quantization.EdgeCaseModels;

namespace OnnxQuant.Tests.Quantization;

/// <summary>
/// The numerical edge cases of issue 17, end to end through the presets: each used to give a wrong model with exit
/// code 0 (or an internal error); each now gives a model as accurate as int8 allows, or a clear error (exit 2, no file).
/// </summary>
public class NumericalEdgeCaseTests
{
    public static TheoryData<string, string> BiasCases()
    {
        var data = new TheoryData<string, string>();
        foreach (string preset in new[] { "w8a8", "w4a8" })
            foreach (string model in new[] { "gemm", "matmul-add", "conv-bn-gamma0", "depthwise" })
                data.Add(preset, model);
        return data;
    }

    private static Model BiasModel(string name) => name switch
    {
        "gemm" => GemmWithTinyWeights(),
        "matmul-add" => MatMulAddWithTinyWeights(),
        "conv-bn-gamma0" => ConvWithZeroGammaBatchNorm(),
        "depthwise" => DepthwiseConvWithZeroAndSubnormalChannels(),
        _ => throw new ArgumentOutOfRangeException(nameof(name)),
    };

    [Theory]
    [MemberData(nameof(BiasCases))]
    public void ABiasThatDoesNotFitInt32_WidensTheWeightScale_AndKeepsTheOutputWithinInt8Error(string preset, string modelName)
    {
        using var folder = new ScratchFolder();
        using var model = BiasModel(modelName);
        var (path, data, values) = Write(model, folder);
        var result = Onnxquant.Run(path, folder.File("q.onnx"), "--recipe", preset, "--data", data);
        Assert.True(result.ExitCode == 0, result.ToString());

        double sqnr = OutputSqnrDb(path, folder.File("q.onnx"), values);
        Assert.True(sqnr >= 30, $"{preset} on {modelName}: output SQNR {sqnr:F1} dB < 30 dB.\n{result.Stdout}");
        // Where an int32 bias is written (Conv under both presets, Gemm under w8a8: w4a8 gives Gemm a float bias in
        // MatMulNBits), the widening is said; and no bias code sits at the int32 limit.
        using var quantized = OnnxReader.Read(folder.File("q.onnx"));
        var int32Biases = quantized.Graph.Constants.Where(c => c.Const!.ElementType == DataType.Int32 && c.Name!.Contains("bias", StringComparison.Ordinal)).ToList();
        bool writesInt32Bias = modelName.StartsWith("conv", StringComparison.Ordinal) || modelName == "depthwise" || preset == "w8a8";
        Assert.Equal(writesInt32Bias, int32Biases.Count > 0);
        if (writesInt32Bias) Assert.Contains("widened", result.Stdout);
        foreach (var b in int32Biases)
            Assert.All(b.Const!.AsSpan<int>().ToArray(), q => Assert.True(Math.Abs((long)q) < int.MaxValue, $"{b} holds the saturated code {q}."));
    }

    public static TheoryData<string, float> NonFiniteCases()
    {
        var data = new TheoryData<string, float>();
        foreach (string preset in new[] { "w8a8", "w8a8-dynamic", "w8a16", "w4a16", "w4a8" })
            data.Add(preset, float.NaN);
        data.Add("w8a8", float.PositiveInfinity);
        data.Add("w4a16", float.NegativeInfinity);
        return data;
    }

    [Theory]
    [MemberData(nameof(NonFiniteCases))]
    public void ANonFiniteWeight_IsRefused_NamingTheTensorAndNode_AndWritesNothing(string preset, float poison)
    {
        using var folder = new ScratchFolder();
        using var model = TwoGemmsWithPoisonedWeight(poison);
        var (path, data, _) = Write(model, folder);
        var result = Onnxquant.Run(path, folder.File("q.onnx"), "--recipe", preset, "--data", data);
        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains("'poisoned_weight'", result.Stderr);
        Assert.Contains("first_gemm", result.Stderr);
        Assert.Contains("non-finite: float", result.Stderr);
        Assert.False(File.Exists(folder.File("q.onnx")));
        Assert.Empty(Directory.GetFiles(folder.Path, "q.onnx*"));
    }

    [Theory]
    [InlineData("insert-dynamic-qdq", "{non-finite: float}", "")]
    [InlineData("insert-qdq", "{non-finite: float}", "  - calibrate: {}\n")]
    [InlineData("quantize-weights", "{non-finite: float, lm-head: 8}", "")]
    public void NonFiniteFloat_LeavesThatNodeFloat_SaysWhich_AndQuantizesTheRest(string pass, string options, string before)
    {
        using var folder = new ScratchFolder();
        using var model = TwoGemmsWithPoisonedWeight(float.NaN);
        var (path, data, _) = Write(model, folder);
        File.WriteAllText(folder.File("r.yaml"), $"name: t\npasses:\n  - upgrade-opset: {{target-opset: 21}}\n{before}  - {pass}: {options}\n");
        var result = Onnxquant.Run(path, folder.File("q.onnx"), "--recipe", folder.File("r.yaml"), "--data", data);
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("first_gemm", result.Stdout);
        Assert.Contains("non-finite: float", result.Stdout);
        using var quantized = OnnxReader.Read(folder.File("q.onnx"));
        var first = quantized.Graph.Nodes.Single(n => n.Name == "first_gemm");
        Assert.Equal("Gemm", first.OpType);
        Assert.True(float.IsNaN(first.Inputs[1]!.Const!.AsSpan<float>()[3]), "the poisoned weight is kept as it was");
        Assert.DoesNotContain(quantized.Graph.Nodes, n => n.Name == "second_gemm" && n.OpType == "Gemm" && n.Inputs[1]!.IsConstant);
    }

    [Fact]
    public void ZeroSizeSamples_AreAUserError_NotACrash()
    {
        using var folder = new ScratchFolder();
        using var model = GemmWithTinyWeights();
        OnnxWriter.Write(model, folder.File("m.onnx"));
        NpyFiles.WriteFloats(folder.File("x.npy"), [4, 0, 32], []);
        var result = Onnxquant.Run(folder.File("m.onnx"), folder.File("q.onnx"), "--recipe", "w8a8", "--data", folder.File("x.npy"));
        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains("holds no values", result.Stderr);
        Assert.False(File.Exists(folder.File("q.onnx")));
    }

    [Fact]
    public void ADataFileWithNoSamples_SaysSo_InsteadOfAdvisingToSkipFewerThanZero()
    {
        using var folder = new ScratchFolder();
        using var model = GemmWithTinyWeights();
        OnnxWriter.Write(model, folder.File("m.onnx"));
        NpyFiles.WriteFloats(folder.File("x.npy"), [0, 32], []);
        var result = Onnxquant.Run(folder.File("m.onnx"), folder.File("q.onnx"), "--recipe", "w8a8", "--data", folder.File("x.npy"));
        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains("holds no samples", result.Stderr);
        Assert.DoesNotContain("fewer than 0", result.Stderr);
    }

    [Fact]
    public void AllNaNCalibrationData_IsRefused_SayingItHasNoFiniteValues()
    {
        using var folder = new ScratchFolder();
        using var model = TwoGemmsWithPoisonedWeight(0.25f);
        OnnxWriter.Write(model, folder.File("m.onnx"));
        NpyFiles.WriteFloats(folder.File("x.npy"), [Samples, 32], Enumerable.Repeat(float.NaN, Samples * 32).ToArray());
        var result = Onnxquant.Run(folder.File("m.onnx"), folder.File("q.onnx"), "--recipe", "w8a8", "--data", folder.File("x.npy"));
        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains("no finite values", result.Stderr);
        Assert.Contains("'x'", result.Stderr);
        Assert.False(File.Exists(folder.File("q.onnx")));
    }

    [Fact]
    public void NaNInsideGoodData_IsCountedAndWarnedOncePerInput()
    {
        using var folder = new ScratchFolder();
        using var model = TwoGemmsWithPoisonedWeight(0.25f);
        var (path, _, values) = Write(model, folder);
        values[5] = float.NaN;
        values[40] = float.PositiveInfinity;
        values[300] = float.NaN;
        NpyFiles.WriteFloats(folder.File("bad.npy"), [Samples, 32], values);
        var result = Onnxquant.Run(path, folder.File("q.onnx"), "--recipe", "w8a8", "--data", folder.File("bad.npy"));
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains($"3 of {Samples * 32} values of input 'x'", result.Stdout);
        Assert.Single(result.Stdout.Split('\n'), l => l.Contains("are NaN or Inf", StringComparison.Ordinal));
    }

    [Fact]
    public void ASingleMatMulUnderW4A16_IsSaidToBeTheLmHeadLeftFloat_InTheNormalOutput()
    {
        using var folder = new ScratchFolder();
        using var model = GemmWithTinyWeights();
        var (path, _, _) = Write(model, folder);
        var result = Onnxquant.Run(path, folder.File("q.onnx"), "--recipe", "w4a16");
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("taken as the LM head and stays float", result.Stdout);
    }

    [Fact]
    public void Eval_OfIdenticalOutputs_PrintsIdentical_NotNaN()
    {
        using var folder = new ScratchFolder();
        using var model = GemmWithTinyWeights();
        var (path, data, _) = Write(model, folder);
        var result = Onnxquant.Run("eval", path, path, "--data", data);
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("inf (identical)", result.Stdout);
        Assert.DoesNotContain("nan", result.Stdout, StringComparison.OrdinalIgnoreCase);

        // Identical all-zero outputs: signal and error are both 0, so the SQNR is 0/0; still "identical", not "NaN dB".
        string zero = Evaluation.EvalTestModels.Scale(folder.File("zero.onnx"), [0, 0, 0, 0]);
        NpyFiles.WriteFloats(folder.File("rows.npy"), [3, 4], QdqTestKit.RandomFloats(7, 12, -1, 1));
        var zeros = Onnxquant.Run("eval", zero, zero, "--data", folder.File("rows.npy"));
        Assert.True(zeros.ExitCode == 0, zeros.ToString());
        Assert.Contains("inf (identical)", zeros.Stdout);
        Assert.DoesNotContain("nan", zeros.Stdout, StringComparison.OrdinalIgnoreCase);
    }
}
