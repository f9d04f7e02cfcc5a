using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Ir.Verification;
using OnnxQuant.Passes;
using OnnxQuant.Passes.Canonicalization;
using OnnxQuant.DemoModels;
using OnnxQuant.Runtime;
using OnnxQuant.Tests.Support;
using static OnnxQuant.Tests.Canonicalization.OpsetUpgradeTestKit;

namespace OnnxQuant.Tests.Canonicalization;

public class OpsetUpgradeSharedModelTests
{
    public static TheoryData<string> SharedModels() => new(SharedPaths.AllModels().Select(Path.GetFileName)!);

    /// <summary>Every shared model upgrades to opset 21 and computes the same outputs (relative error ≤ 1e-5).</summary>
    [Theory]
    [MemberData(nameof(SharedModels))]
    public void SharedModel_UpgradedTo21_ComputesTheSameOutputs(string file)
    {
        string path = SharedPaths.Model(file);
        using var model = OnnxReader.Read(path);
        var feeds = SharedModelInputs.For(file, model, seed: 7);
        using var original = ModelRunner.FromFile(path);
        var expected = original.Run(feeds);

        var context = new PassContext();
        var result = new UpgradeOpsetPass().Run(model, new UpgradeOpsetOptions { TargetOpset = 21 }, context);

        Assert.True(result.Modified);
        Assert.Equal(21, model.GetOpset(""));
        Assert.True(model.IrVersion >= 10, $"IR version {model.IrVersion} is too old for opset 21.");
        Verifier.Verify(model).ThrowIfInvalid("after upgrade-opset");
        var actual = NumericAssert.Run(model, feeds);
        AssertSameOutputs(expected, actual, 1e-5, file);
    }

    /// <summary>The VAD with its documented start state: 512 samples, sr = 16000, zero LSTM state (If branches on sr).</summary>
    [Fact]
    public void SileroVad_FromZeroState_ComputesTheSameOutputsAt21()
    {
        string path = SharedPaths.Model("silero_vad_legacy.onnx");
        using var model = OnnxReader.Read(path);
        var feeds = new Dictionary<string, Tensor>
        {
            ["input"] = RandomFloats(8, 1, 512),
            ["sr"] = Tensor.FromInt64s([16000]),
            ["h"] = Tensor.FromFloats(new float[128], 2, 1, 64),
            ["c"] = Tensor.FromFloats(new float[128], 2, 1, 64),
        };
        var expected = NumericAssert.Run(model, feeds);

        Assert.True(new UpgradeOpsetPass().Run(model, new PassContext()).Modified);

        Assert.Equal(21, model.GetOpset(""));
        Assert.Equal(1, model.GetOpset("com.microsoft")); // other domains keep their imports
        AssertSameOutputs(expected, NumericAssert.Run(model, feeds), 1e-5, "silero");
    }

    /// <summary>A second upgrade of an upgraded model changes nothing.</summary>
    [Fact]
    public void UpgradingTwice_SecondRunReportsNoChange()
    {
        using var model = OnnxReader.Read(SharedPaths.Model("ppocr_v4_rec.onnx"));
        var pass = new UpgradeOpsetPass();
        Assert.True(pass.Run(model, new PassContext()).Modified);
        byte[] once = OnnxWriter.ToBytes(model);
        Assert.False(pass.Run(model, new PassContext()).Modified);
        Assert.Equal(once, OnnxWriter.ToBytes(model));
    }

    /// <summary>The demo ViT, written as PyTorch exports at opset 14 (ReduceMean with axes attributes), upgrades too.</summary>
    [Fact]
    public void DemoVit_ExportedAtOpset14_UpgradesTo21WithTheSameOutputs()
    {
        using var model = VitGenerator.Generate(VitConfig.Tiny, seed: 3);
        Assert.Equal(VitGenerator.ExportOpset, model.GetOpset(""));
        var feeds = SampleInputs.ForModel(model, seed: 4, new Dictionary<string, long[]> { ["pixel_values"] = [2, 3, 32, 32] });
        var (upgraded, before, after) = UpgradeAndRun(model, feeds);

        Assert.DoesNotContain(upgraded.Graph.Nodes, n => n.OpType == "ReduceMean" && n.GetAttribute("axes") is not null);
        AssertSameOutputs(before, after, 1e-5);
    }
}
