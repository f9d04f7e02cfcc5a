using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Runtime;
using OnnxQuant.Runtime.Audit;
using OnnxQuant.Runtime.Diffusion;
using OnnxQuant.Tests.Cli;

namespace OnnxQuant.Tests.Diffusion;

/// <summary>The diffusion presets on the shared DiT (structure and a sanity bound; the measured figures are in the README).</summary>
public sealed class DiffusionPresetTests : IDisposable
{
    private readonly ScratchFolder _folder = new("diffusion-preset");
    private static string Dit => SharedPaths.Model("dit_mnist.onnx");
    private static string SamplerFile => SharedPaths.Model("dit_mnist_sampler.json");

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void W8a8Diffusion_RunsBlockAndConditioningMatMulsAsDynamicInt8_AndKeepsTheFinalLayerAndPatchConvFloat()
    {
        string output = _folder.File("dit.w8a8-diffusion.onnx");
        var r = Onnxquant.Run(Dit, output, "--recipe", "w8a8-diffusion");
        Assert.True(r.ExitCode == 0, r.ToString());

        using var model = OnnxReader.Read(output);
        var audit = FusionAudit.Run(model);
        // 6 blocks × (qkv, proj, mlp up, mlp down) + the conditioning path (6 block adaLN modulations, the final
        // layer's adaLN modulation, the 2 timestep-MLP layers); only the final linear stays float.
        Assert.Equal(24 + 6 + 1 + 2, audit.Kernels("DynamicQuantizeMatMul") + audit.Kernels("MatMulIntegerToFloat"));
        Assert.Equal(0, audit.Kernels("QLinearConv"));
        Assert.Single(model.Graph.Nodes, n => n.OpType == "Conv");
        Assert.Empty(audit.UnfusedOnComputePath);
        var floatLayer = Assert.Single(model.Graph.Nodes, n => n.OpType is "Gemm" or "MatMul" && n.Inputs[1]?.Const is not null);
        Assert.Contains("final_layer", floatLayer.Name ?? "");

        // Sanity only (the measured fidelity is in docs/diffusion.md): four samples stay close to the float sampler's.
        var report = DiffusionEvaluation.Run(Dit, output, SamplerFile, new DiffusionEvalOptions { Count = 4, Seed = 1000, NoSpread = true });
        Assert.True(report.Quantized.MeanPsnrDb > 30, $"mean PSNR {report.Quantized.MeanPsnrDb:0.00} dB");
    }

    [Fact]
    public void W4a8Diffusion_CalibratesOnTheTrajectory_AndRunsInt4BlockWeightsOnOrtsDynamicInt8Kernel()
    {
        string output = _folder.File("dit.w4a8-diffusion.onnx");
        var r = Onnxquant.Run(Dit, output, "--recipe", "w4a8-diffusion", "--data", "sampler:" + SamplerFile, "--count", "1", "--seed", "1");
        Assert.True(r.ExitCode == 0, r.ToString());

        using var model = OnnxReader.Read(output);
        // Standard ONNX: 24 int4 weights (6 blocks × qkv, proj, mlp up, mlp down), each cast to int8 for MatMulInteger.
        Assert.DoesNotContain(model.Graph.Nodes, n => n.OpType == "MatMulNBits" || !n.IsDefaultDomain);
        var int4 = model.Graph.Constants.Where(c => c.Const!.ElementType == DataType.Int4).ToList();
        Assert.Equal(24, int4.Count);
        Assert.All(int4, c => Assert.Equal("Cast", Assert.Single(c.Uses).Node.OpType));
        Assert.Equal(24, model.Graph.Nodes.Count(n => n.OpType == "MatMulInteger"));
        // ORT folds the Casts of the constants and fuses every layer into its dynamic int8 kernel.
        var audit = FusionAudit.Run(model);
        Assert.Equal(24, audit.Kernels("DynamicQuantizeMatMul") + audit.Kernels("MatMulIntegerToFloat"));
        Assert.Equal(0, audit.Kernels("MatMulInteger"));
        var floatLayers = model.Graph.Nodes.Where(n => n.OpType is "Gemm" or "MatMul" && n.Inputs[1]?.Const is not null).Select(n => n.Name ?? "").ToList();
        Assert.Equal(10, floatLayers.Count);
        Assert.All(floatLayers, name => Assert.True(name.Contains("adaLN") || name.Contains("t_embedder") || name.Contains("final_layer"), name));

        var report = DiffusionEvaluation.Run(Dit, output, SamplerFile, new DiffusionEvalOptions { Count = 4, Seed = 1000, NoSpread = true });
        Assert.True(report.Quantized.MeanPsnrDb > 25, $"mean PSNR {report.Quantized.MeanPsnrDb:0.00} dB");
    }

    [Fact]
    public void W4a8Diffusion_WithoutData_FailsAndWritesNothing()
    {
        var r = Onnxquant.Run(Dit, _folder.File("out.onnx"), "--recipe", "w4a8-diffusion");
        Assert.Equal(2, r.ExitCode);
        Assert.False(File.Exists(_folder.File("out.onnx")));
    }

    [Fact]
    public void W8a8DiffusionTimestep_SelectsPerGroupScalesFromT_KeepsTheInterface_AndRunsAsIntegerKernels()
    {
        string output = _folder.File("dit.w8a8-diffusion-timestep.onnx");
        var r = Onnxquant.Run(Dit, output, "--recipe", "w8a8-diffusion-timestep", "--data", "sampler:" + SamplerFile, "--count", "1");
        Assert.True(r.ExitCode == 0, r.ToString());

        using var model = OnnxReader.Read(output);
        using var original = OnnxReader.Read(Dit);
        Assert.Equal(original.Graph.Inputs.Select(v => v.Name), model.Graph.Inputs.Select(v => v.Name));
        Assert.Equal(original.Graph.Outputs.Select(v => v.Name), model.Graph.Outputs.Select(v => v.Name));
        var audit = FusionAudit.Run(model);
        Assert.Equal(24, audit.Kernels("MatMulIntegerToFloat"));
        Assert.Empty(audit.UnfusedOnComputePath);
        // One QuantizeLinear per block activation (qkv, proj, mlp up, mlp down), each reading a 10-entry scale table.
        var quantizers = model.Graph.Nodes.Where(n => n.OpType == "QuantizeLinear").ToList();
        Assert.Equal(24, quantizers.Count);
        Assert.All(quantizers, q => Assert.Equal([10L], q.Inputs[1]!.Producer!.Inputs[0]!.Const!.Dims.ToArray()));
        Assert.DoesNotContain(model.Graph.Nodes, n => n.OpType == "DynamicQuantizeLinear");
        // The same layers stay float as in w8a8-diffusion, found by structure.
        var floatLayers = model.Graph.Nodes.Where(n => n.OpType is "Gemm" or "MatMul" && n.Inputs[1]?.Const is not null).Select(n => n.Name ?? "").ToList();
        Assert.Equal(10, floatLayers.Count);
        Assert.All(floatLayers, name => Assert.True(name.Contains("adaLN") || name.Contains("t_embedder") || name.Contains("final_layer"), name));

        var report = DiffusionEvaluation.Run(Dit, output, SamplerFile, new DiffusionEvalOptions { Count = 4, Seed = 1000, NoSpread = true });
        Assert.True(report.Quantized.MeanPsnrDb > 30, $"mean PSNR {report.Quantized.MeanPsnrDb:0.00} dB");
    }

    [Fact]
    public void W8a8DiffusionTimestep_WithoutData_FailsAndWritesNothing()
    {
        var r = Onnxquant.Run(Dit, _folder.File("out.onnx"), "--recipe", "w8a8-diffusion-timestep");
        Assert.Equal(2, r.ExitCode);
        Assert.False(File.Exists(_folder.File("out.onnx")));
    }

    [Fact]
    public void W4a8DiffusionFast_RunsTheBlocksAsMatMulW4A8()
    {
        string output = _folder.File("dit.w4a8-diffusion-fast.onnx");
        var r = Onnxquant.Run(Dit, output, "--recipe", "w4a8-diffusion-fast", "--data", "sampler:" + SamplerFile, "--count", "1");
        Assert.True(r.ExitCode == 0, r.ToString());
        using var model = OnnxReader.Read(output);
        var audit = FusionAudit.Run(model);
        Assert.Equal(24, audit.Kernels("com.onnxquant.MatMulW4A8"));
        Assert.DoesNotContain(model.Graph.Nodes, n => n.OpType == "MatMulNBits");
        var report = DiffusionEvaluation.Run(Dit, output, SamplerFile, new DiffusionEvalOptions { Count = 4, Seed = 1000, NoSpread = true });
        Assert.True(report.Quantized.MeanPsnrDb > 25, $"mean PSNR {report.Quantized.MeanPsnrDb:0.00} dB");
    }

    [Fact]
    public void W4a8Diffusion_ChoosesItsFloatLayersByStructure_SoRenamedNodesGiveTheSameOutputs()
    {
        string renamed = _folder.File("dit_renamed.onnx");
        using (var m = OnnxReader.Read(Dit))
        {
            int i = 0;
            foreach (var node in m.Graph.Nodes) node.Name = $"layer{i++}";
            OnnxWriter.Write(m, renamed);
        }
        string a = _folder.File("a.onnx"), b = _folder.File("b.onnx");
        foreach (var (input, output) in new[] { (Dit, a), (renamed, b) })
        {
            var r = Onnxquant.Run(input, output, "--recipe", "w4a8-diffusion", "--data", "sampler:" + SamplerFile, "--count", "1", "--seed", "1");
            Assert.True(r.ExitCode == 0, r.ToString());
        }
        using var original = OnnxReader.Read(a);
        using var other = OnnxReader.Read(b);
        Assert.Equal(24, other.Graph.Nodes.Count(n => n.OpType == "MatMulInteger"));
        Assert.Equal(10, other.Graph.Nodes.Count(n => n.OpType is "Gemm" or "MatMul" && n.Inputs[1]?.Const is not null));
        var random = new Random(5);
        var feeds = new Dictionary<string, Tensor>
        {
            ["x"] = Tensor.FromFloats(Enumerable.Range(0, 2 * 784).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray(), 2, 1, 28, 28),
            ["t"] = Tensor.FromInt64s([700, 40], 2),
            ["y"] = Tensor.FromInt64s([3, 10], 2),
        };
        var expected = ModelRunner.RunOnce(original, feeds).Values.First().AsSpan<float>().ToArray();
        var actual = ModelRunner.RunOnce(other, feeds).Values.First().AsSpan<float>().ToArray();
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void W8a8DiffusionFast_RunsTheBlocksAsMatMulW8A8_WithPerTokenActivations()
    {
        string output = _folder.File("dit.w8a8-diffusion-fast.onnx");
        var r = Onnxquant.Run(Dit, output, "--recipe", "w8a8-diffusion-fast");
        Assert.True(r.ExitCode == 0, r.ToString());
        using var model = OnnxReader.Read(output);
        var audit = FusionAudit.Run(model);
        Assert.Equal(24, audit.Kernels("com.onnxquant.MatMulW8A8"));
        Assert.DoesNotContain(model.Graph.Nodes, n => n.OpType is "DynamicQuantizeLinear" or "MatMulInteger");
        Assert.Equal(10, model.Graph.Nodes.Count(n => n.OpType is "Gemm" or "MatMul" && n.Inputs[1]?.Const is not null));
        var report = DiffusionEvaluation.Run(Dit, output, SamplerFile, new DiffusionEvalOptions { Count = 4, Seed = 1000, NoSpread = true });
        Assert.True(report.Quantized.MeanPsnrDb > 30, $"mean PSNR {report.Quantized.MeanPsnrDb:0.00} dB");
    }
}
