using OnnxQuant.Ir.Serialization;
using OnnxQuant.Passes.CustomOps;
using OnnxQuant.Passes.Recipes;
using OnnxQuant.Runtime.Evaluation;
using OnnxQuant.Tests.Support;

namespace OnnxQuant.Tests.CustomOps;

/// <summary>
/// The RepQ -fast presets on vit_mnist: each is its standard twin plus fuse-custom-ops (recipe steps), runs in ONNX
/// Runtime with its six Log2AttnMatMul and no log√2 search left, and agrees with the twin: logits SQNR against
/// float within 0.5 dB of the twin's, top-1 within 1 point (200 evaluation images, 8 calibration images).
/// </summary>
public class RepqFastPresetTests
{
    private static string Mnist(string file) => Path.Combine(SharedPaths.Data, "mnist", file);

    [Theory]
    [InlineData("w4a4-repq")]
    [InlineData("w6a6-repq")]
    [InlineData("w4a8-repq")]
    public void FastPreset_IsTheTwinPlusFuseCustomOps_RunsInOrt_AndAgreesWithTheTwin(string twin)
    {
        var standardSteps = RecipeLoader.LoadFileOrPreset(twin).Passes.Select(p => $"{p.Name} {p.Options}").ToList();
        var fastSteps = RecipeLoader.LoadFileOrPreset(twin + "-fast").Passes.Select(p => $"{p.Name} {p.Options}").ToList();
        Assert.Equal([.. standardSteps, fastSteps[^1]], fastSteps);
        Assert.Contains("fuse-custom-ops", fastSteps[^1]);

        using var scratch = new ScratchFolder("repq-fast");
        string vit = SharedPaths.Model("vit_mnist.onnx");
        var calibration = CalibrationData.FromPath(Mnist("calib_256.npy")) with { Count = 8 };
        string standard = scratch.File("standard.onnx"), fast = scratch.File("fast.onnx");
        Quantizer.Quantize(vit, standard, new QuantizeOptions { Recipe = RecipeSource.Preset(twin), Calibration = calibration });
        Quantizer.Quantize(vit, fast, new QuantizeOptions { Recipe = RecipeSource.Preset(twin + "-fast"), Calibration = calibration });

        using (var model = OnnxReader.Read(fast))
        {
            Assert.Equal(6, model.Graph.AllNodes().Count(n => n.OpType == FuseLog2AttnIntoLog2AttnMatMul.OpType && n.Domain == FuseCustomOpsPass.Domain));
            Assert.Equal(0, model.Graph.AllNodes().Count(n => n.OpType == "LessOrEqual"));
        }
        var options = new EvalOptions { Task = EvalTask.Classify, Labels = Mnist("eval_5000_labels.npy"), Count = 200 };
        var standardReport = ModelEvaluator.Run(vit, standard, Mnist("eval_5000.npy"), options);
        var fastReport = ModelEvaluator.Run(vit, fast, Mnist("eval_5000.npy"), options);
        double standardSqnr = standardReport.Outputs.Single().SqnrDb!.Value, fastSqnr = fastReport.Outputs.Single().SqnrDb!.Value;
        Assert.True(fastSqnr >= standardSqnr - 0.5, $"{twin}-fast: {fastSqnr:F2} dB against float, {twin}: {standardSqnr:F2} dB");
        Assert.True(Math.Abs(fastReport.Accuracy!.QuantCorrect!.Value - standardReport.Accuracy!.QuantCorrect!.Value) <= 2,
            $"{twin}-fast: {fastReport.Accuracy.QuantCorrect}/200 correct, {twin}: {standardReport.Accuracy.QuantCorrect}/200");
    }
}
