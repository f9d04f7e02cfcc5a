using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.DemoModels;
using OnnxQuant.Runtime;

namespace OnnxQuant.Tests.Quantization.Rounding;

/// <summary>End to end: a small generated llama quantized w4 with GPTQ runs in ONNX Runtime and is closer to the
/// float model than round-to-nearest on the same grid, on token sequences it was not calibrated on.</summary>
public class GptqLlamaTests
{
    private static readonly LlamaConfig Small = new(64, 2, 4, 2, 128, 128);
    private const int Seq = 16;

    private static IEnumerable<IReadOnlyDictionary<string, Tensor>> Sequences(int seed, int count)
    {
        var random = new Random(seed);
        for (int i = 0; i < count; i++)
            yield return new Dictionary<string, Tensor>
            {
                ["input_ids"] = Tensor.FromInt64s(Enumerable.Range(0, Seq).Select(_ => (long)random.Next(Small.Vocab)).ToArray(), 1, Seq),
            };
    }

    private static double SquaredLogitError(Model reference, Model quantized, IEnumerable<IReadOnlyDictionary<string, Tensor>> heldOut)
    {
        var options = new RunnerOptions { Optimization = OptimizationLevel.None };
        double total = 0;
        foreach (var feeds in heldOut)
        {
            float[] expected = ModelRunner.RunOnce(reference, feeds, options)["logits"].ToFloatArray();
            float[] actual = ModelRunner.RunOnce(quantized, feeds, options)["logits"].ToFloatArray();
            for (int i = 0; i < expected.Length; i++) total += Math.Pow(expected[i] - actual[i], 2);
        }
        return total;
    }

    [Fact]
    public void W4A16Gptq_RunsInOrt_AndHasLowerHeldOutLogitErrorThanRoundToNearestOnTheSameGrid()
    {
        using var folder = new ScratchFolder();
        using var model = LlamaGenerator.Generate(Small, seed: 5);
        string preset = File.ReadAllText(Path.Combine(SharedPaths.RepoRoot, "models", "recipes", "w4a16-gptq.yaml"));
        Assert.Contains("rounding: gptq", preset);
        string rtnRecipe = preset.Replace("rounding: gptq", "rounding: rtn", StringComparison.Ordinal);

        using var toGptq = LlamaGenerator.Generate(Small, seed: 5);
        using var toRtn = LlamaGenerator.Generate(Small, seed: 5);
        var gptq = Quantizer.Quantize(toGptq, folder.File("gptq.onnx"), new QuantizeOptions
        {
            Recipe = RecipeSource.Preset("w4a16-gptq"),
            Calibration = CalibrationData.FromSamples(Sequences(1, 16)),
        });
        Quantizer.Quantize(toRtn, folder.File("rtn.onnx"), new QuantizeOptions
        {
            Recipe = RecipeSource.Yaml(rtnRecipe),
            Calibration = CalibrationData.FromSamples(Sequences(1, 16)),
        });
        using var gptqModel = OnnxReader.Read(folder.File("gptq.onnx"));
        using var rtnModel = OnnxReader.Read(folder.File("rtn.onnx"));

        // Every projection (7 per layer) is a 4-bit asymmetric MatMulNBits; the head stays float.
        var nbits = gptqModel.Graph.Nodes.Where(n => n.OpType == "MatMulNBits").ToList();
        Assert.Equal(7 * Small.Layers, nbits.Count);
        Assert.All(nbits, n => Assert.Equal(4, n.GetInt("bits", 0)));
        Assert.All(nbits, n => Assert.NotNull(n.Inputs.ElementAtOrDefault(3)));   // zero points: asymmetric
        Assert.True(gptq.Counters["quantize-weights.quantized"] >= 7 * Small.Layers);

        var heldOut = Sequences(2, 8).ToList();
        double gptqError = SquaredLogitError(model, gptqModel, heldOut), rtnError = SquaredLogitError(model, rtnModel, heldOut);
        Assert.True(gptqError > 0, "the quantized model equals the float one: nothing was quantized");
        Assert.True(gptqError < rtnError, $"held-out squared logit error: gptq {gptqError:G4}, rtn {rtnError:G4}");
    }
}

/// <summary>The other GPTQ presets on the same small llama: they run in ONNX Runtime and beat round-to-nearest on the
/// same grid (w2a16-gptqt: two-bit asymmetric round-to-nearest on the same groups).</summary>
public class GptqPresetTests
{
    private static readonly LlamaConfig Small = new(64, 2, 4, 2, 128, 128);
    private const int Seq = 16;

    private static IEnumerable<IReadOnlyDictionary<string, Tensor>> Sequences(int seed, int count)
    {
        var random = new Random(seed);
        for (int i = 0; i < count; i++)
            yield return new Dictionary<string, Tensor>
            {
                ["input_ids"] = Tensor.FromInt64s(Enumerable.Range(0, Seq).Select(_ => (long)random.Next(Small.Vocab)).ToArray(), 1, Seq),
            };
    }

    [Theory]
    [InlineData("w3a16-gptq", "rounding: gptq", "rounding: rtn", "MatMulNBits")]
    [InlineData("w4a8-gptq", "rounding: gptq", "rounding: rtn", "MatMulNBits")]
    [InlineData("w2a16-gptqt", "rounding: gptqt, gptqt-linear-bits: 4, gptq-act-order: true", "symmetric: false, rounding: rtn", "Floor")]
    public void Preset_RunsInOrt_AndBeatsRoundToNearestOnTheSameGrid(string preset, string rounding, string rtn, string expectedOp)
    {
        using var folder = new ScratchFolder();
        using var reference = LlamaGenerator.Generate(Small, seed: 5);
        string text = File.ReadAllText(Path.Combine(SharedPaths.RepoRoot, "models", "recipes", preset + ".yaml"));
        Assert.Contains(rounding, text);
        var quantized = new Dictionary<string, Model>();
        foreach (var (name, recipe) in new[] { ("preset", RecipeSource.Preset(preset)), ("rtn", RecipeSource.Yaml(text.Replace(rounding, rtn, StringComparison.Ordinal))) })
        {
            using var model = LlamaGenerator.Generate(Small, seed: 5);
            Quantizer.Quantize(model, folder.File(name + ".onnx"), new QuantizeOptions { Recipe = recipe, Calibration = CalibrationData.FromSamples(Sequences(1, 16)) });
            quantized[name] = OnnxReader.Read(folder.File(name + ".onnx"));
        }
        try
        {
            Assert.Contains(quantized["preset"].Graph.Nodes, n => n.OpType == expectedOp);
            var options = new RunnerOptions { Optimization = OptimizationLevel.None };
            double presetError = 0, rtnError = 0;
            foreach (var feeds in Sequences(2, 8))
            {
                float[] expected = ModelRunner.RunOnce(reference, feeds, options)["logits"].ToFloatArray();
                float[] a = ModelRunner.RunOnce(quantized["preset"], feeds, options)["logits"].ToFloatArray();
                float[] b = ModelRunner.RunOnce(quantized["rtn"], feeds, options)["logits"].ToFloatArray();
                for (int i = 0; i < expected.Length; i++)
                {
                    presetError += Math.Pow(expected[i] - a[i], 2);
                    rtnError += Math.Pow(expected[i] - b[i], 2);
                }
            }
            Assert.True(presetError > 0 && double.IsFinite(presetError), $"{preset}: error {presetError}");
            Assert.True(presetError < rtnError, $"{preset}: held-out squared logit error {presetError:G4}, round to nearest {rtnError:G4}");
        }
        finally
        {
            foreach (var m in quantized.Values) m.Dispose();
        }
    }
}
