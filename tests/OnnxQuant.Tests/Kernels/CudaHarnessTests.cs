using System.Diagnostics;

namespace OnnxQuant.Tests.Kernels;

/// <summary>
/// The CUDA kernels (runtime/kernels/cuda) without a GPU: their host side (the integer tricks and GPU repacking of
/// the W4A8/W8A8 kernels recomputed on the CPU against the scalar path's bits, the harness's comparison, the reference
/// drivers) built with the system C++ compiler and run everywhere; and, where nvcc exists, the whole standalone
/// harness compiled by run-harness.sh (not run: no GPU on our machines).
/// </summary>
public class CudaHarnessTests
{
    private static string KernelsDir => Path.Combine(SharedPaths.RepoRoot, "runtime", "kernels");

    // What host_selftest.cc links: the harness's host code and the CPU library's ORT-free sources.
    private static readonly string[] SelfTestSources =
    [
        "cuda/host_selftest.cc", "cuda/harness_reference.cc", "cuda/gpu_layouts.cc", "src/packed_weights.cc",
        "src/quantize_activations.cc", "src/gemm_scalar.cc", "src/hadamard_rows.cc", "src/log2_attn_rows.cc",
        "src/log2_attn_paths.cc", "src/bcq_pack.cc", "src/bcq_scalar.cc",
    ];

    [Fact]
    public void HostSide_MatchesTheCpuScalarPath_AndTheComparisonCatchesOneUlp()
    {
        using var scratch = new ScratchFolder("cuda-host");
        var binary = scratch.File("host_selftest");
        var build = Run("c++", ["-std=c++17", "-O1", "-ffp-contract=off", "-Wall", "-Wextra", "-Werror", "-o", binary,
                                .. SelfTestSources, "-lpthread"], KernelsDir, TimeSpan.FromMinutes(10));
        Assert.True(build.ExitCode == 0, $"host self-test did not compile:\n{build.Output}");

        var run = Run(binary, [], KernelsDir, TimeSpan.FromMinutes(5));

        Assert.True(run.ExitCode == 0, $"host self-test failed:\n{run.Output}");
        Assert.Matches(@"host self-test: \d{3,} checks passed", run.Output);
    }

    [NvccFact]
    public void Harness_CompilesWithNvcc_AndSaysSoWhenNoGpuIsPresent()
    {
        using var scratch = new ScratchFolder("cuda-harness");
        var environment = new Dictionary<string, string> { ["CUDA_ARCH"] = "sm_80" };  // one architecture: half the time
        var build = Run("bash", [Path.Combine(KernelsDir, "cuda", "run-harness.sh"), "--build-only", "--out", scratch.Path],
                        KernelsDir, TimeSpan.FromMinutes(15), environment);

        Assert.True(build.ExitCode == 0, $"run-harness.sh --build-only failed:\n{build.Output}");
        var harness = scratch.File("onnxquant_cuda_harness");
        Assert.True(File.Exists(harness));
        if (NvccFactAttribute.GpuPresent()) return;  // a GPU machine runs the harness itself (minutes), not this test
        var run = Run(harness, ["--quick"], KernelsDir, TimeSpan.FromMinutes(2));
        Assert.Equal(2, run.ExitCode);
        Assert.Contains("no CUDA device", run.Output);
    }

    private static (int ExitCode, string Output) Run(string file, IEnumerable<string> arguments, string directory,
                                                     TimeSpan limit, IDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo(file)
        {
            WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) start.Environment[name] = value;
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(limit))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} ran longer than {limit}");
        }
        return (process.ExitCode, stdout.Result + stderr.Result);
    }
}

/// <summary>A fact that runs only where nvcc is found (on PATH or in /usr/local/cuda/bin), skipped with the reason otherwise.</summary>
public sealed class NvccFactAttribute : FactAttribute
{
    public NvccFactAttribute()
    {
        if (FindNvcc() is null)
            Skip = "nvcc not found on PATH or in /usr/local/cuda/bin: the CUDA harness compile check needs the CUDA toolkit";
    }

    public static string? FindNvcc()
    {
        var path = Environment.GetEnvironmentVariable("PATH") ?? "";
        foreach (var dir in path.Split(':', StringSplitOptions.RemoveEmptyEntries).Append("/usr/local/cuda/bin"))
        {
            var candidate = Path.Combine(dir, "nvcc");
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }

    /// <summary>Whether an NVIDIA GPU is visible (its device node exists).</summary>
    public static bool GpuPresent() => File.Exists("/dev/nvidia0");
}
