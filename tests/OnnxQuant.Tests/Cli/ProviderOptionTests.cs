using Microsoft.ML.OnnxRuntime;
using OnnxQuant.Cli;
using OnnxQuant.Ir;
using OnnxQuant.Runtime;
using OnnxQuant.Tests.Bench;

namespace OnnxQuant.Tests.Cli;

/// <summary>
/// <c>--provider cpu|cuda</c> of eval, bench and sample. The default build has ONNX Runtime's CPU package, so cuda must
/// fail with one sentence that says how to get it (exit 2, nothing on stdout); cpu must behave as before; any other
/// value is a usage error. The cuda tests check the default build: in one made with -p:OnnxQuantCuda=true they fail
/// on their first assertion (<see cref="CpuPackageBuild"/>), saying so, rather than passing without checking anything.
/// </summary>
public class ProviderOptionTests
{
    private static bool CpuPackageBuild => !OrtEnv.Instance().GetAvailableProviders().Contains("CUDAExecutionProvider");

    private static void AssertCudaMissingError(CliResult result)
    {
        Assert.True(result.ExitCode == ExitCodes.UserError, result.ToString());
        Assert.Equal("", result.Stdout);
        string error = result.Stderr.Trim();
        Assert.DoesNotContain('\n', error);
        Assert.DoesNotContain(" at ", error);
        Assert.Contains("--provider cuda", error);
        Assert.Contains("-p:OnnxQuantCuda=true", error);
        Assert.Contains("CUDA 13", error);
        Assert.Contains("cuDNN 9", error);
        Assert.Contains("CPUExecutionProvider", error);
    }

    [Fact]
    public void Bench_ProviderCuda_OnTheCpuPackageBuild_IsOneLineErrorSayingHowToRebuild()
    {
        Assert.True(CpuPackageBuild, "This test checks the default build, whose ONNX Runtime is the CPU package.");
        using var dir = new ScratchFolder();
        string model = BenchModels.MatMulChain(dir.File("m.onnx"), [32]);
        AssertCudaMissingError(Onnxquant.Run("bench", model, "--runs", "1", "--warmup", "0", "--provider", "cuda"));
    }

    [Fact]
    public void Eval_ProviderCuda_OnTheCpuPackageBuild_IsOneLineErrorSayingHowToRebuild()
    {
        Assert.True(CpuPackageBuild, "This test checks the default build, whose ONNX Runtime is the CPU package.");
        using var dir = new ScratchFolder();
        string model = BenchModels.MatMulChain(dir.File("m.onnx"), [32]);
        AssertCudaMissingError(Onnxquant.Run("eval", model, model, "--data", "random", "--count", "2", "--provider", "cuda", "--json"));
    }

    [Fact]
    public void Sample_ProviderCuda_FailsBeforeWritingAnything()
    {
        Assert.True(CpuPackageBuild, "This test checks the default build, whose ONNX Runtime is the CPU package.");
        using var dir = new ScratchFolder();
        string model = BenchModels.MatMulChain(dir.File("m.onnx"), [32]);
        string output = dir.File("samples.npy");
        AssertCudaMissingError(Onnxquant.Run("sample", model, "--sampler", dir.File("absent.json"), "--out", output, "--provider", "cuda"));
        Assert.False(File.Exists(output));
    }

    [Fact]
    public void ModelRunner_WithCuda_OnTheCpuPackageBuild_ThrowsTheUserError()
    {
        Assert.True(CpuPackageBuild, "This test checks the default build, whose ONNX Runtime is the CPU package.");
        using var dir = new ScratchFolder();
        string model = BenchModels.MatMulChain(dir.File("m.onnx"), [32]);
        var e = Assert.Throws<OnnxQuantException>(() => ModelRunner.FromFile(model, new RunnerOptions { Provider = ExecutionProvider.Cuda }));
        Assert.Contains("-p:OnnxQuantCuda=true", e.Message);
    }

    [Fact]
    public void Bench_ProviderCpu_RunsAsTheDefaultDoes()
    {
        using var dir = new ScratchFolder();
        string model = BenchModels.MatMulChain(dir.File("m.onnx"), [32]);
        var explicitCpu = Onnxquant.Run("bench", model, "--runs", "2", "--warmup", "0", "--provider", "cpu");
        var byDefault = Onnxquant.Run("bench", model, "--runs", "2", "--warmup", "0");
        Assert.True(explicitCpu.ExitCode == 0, explicitCpu.ToString());
        Assert.True(byDefault.ExitCode == 0, byDefault.ToString());
        Assert.StartsWith("ONNX Runtime CPU, graph optimizations on", explicitCpu.Stdout);
        Assert.StartsWith("ONNX Runtime CPU, graph optimizations on", byDefault.Stdout);
    }

    [Fact]
    public void Eval_ProviderCpu_ComparesAModelWithItselfExactly()
    {
        using var dir = new ScratchFolder();
        string model = BenchModels.MatMulChain(dir.File("m.onnx"), [32]);
        var result = Onnxquant.Run("eval", model, model, "--data", "random", "--count", "2", "--provider", "cpu");
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("ONNX Runtime CPU", result.Stdout);
    }

    [Theory]
    [InlineData("bench")]
    [InlineData("eval")]
    public void UnknownProvider_IsAUsageError(string command)
    {
        using var dir = new ScratchFolder();
        string model = BenchModels.MatMulChain(dir.File("m.onnx"), [32]);
        string[] args = command == "bench" ? ["bench", model, "--provider", "tpu"] : ["eval", model, model, "--data", "random", "--provider", "tpu"];
        var result = Onnxquant.Run(args);
        Assert.True(result.ExitCode == ExitCodes.Usage, result.ToString());
        Assert.Equal("", result.Stdout);
        Assert.Contains("tpu", result.Stderr);
        Assert.Contains("--provider", result.Stderr);
    }
}
