using OnnxQuant.Fuzzing;
using OnnxQuant.Tests.Cli;

namespace OnnxQuant.Tests.Fuzzing;

/// <summary>
/// The CI part of the fuzzing campaign (issue 16): a few hundred mutated real models through inspect and convert and a
/// few dozen through the w8a8 pipeline, with no crash, hang, internal error, stack trace, missing message, partial
/// output or changed input; and the harness itself catches each of those when a command misbehaves on purpose.
/// The ten-thousand-case campaign runs by hand (tests/Fuzzing, README).
/// </summary>
public sealed class FuzzingTests : IDisposable
{
    private readonly ScratchFolder _scratch = new("fuzz-tests");

    public void Dispose() => _scratch.Dispose();

    private FuzzOptions Options(long count, params string[] commands) => new()
    {
        Seed = 20261207,
        Count = count,
        Commands = commands,
        TimeoutSeconds = 60,
        ModelsFolder = SharedPaths.Models,
        ScratchFolder = _scratch.Path,
        WorkerCommand = [Onnxquant.DotnetHost, Path.Combine(AppContext.BaseDirectory, "OnnxQuant.Fuzzing.dll")],
    };

    private static void AssertNoFailures(IReadOnlyList<FuzzResult> results, long count)
    {
        Assert.Equal(count, results.Count);
        Assert.True(results.All(r => r.Outcome.Passes()), FuzzCampaign.Summary(results));
        // The mutations must reach past the reader: some cases run to the end.
        Assert.Contains(results, r => r.Outcome == FuzzOutcome.Accepted);
        Assert.Contains(results, r => r.Outcome == FuzzOutcome.CleanError);
    }

    [Fact]
    public void ThreeHundredMutatedModels_ThroughInspectAndConvert_FailCleanlyOrSucceed()
    {
        var results = FuzzCampaign.Run(Options(300, "inspect", "convert"));
        AssertNoFailures(results, 300);
        // Every kind of damage was tried.
        foreach (string kind in new[] { "bit-flip", "truncate", "huge-dim", "cycle", "dangling-input", "external-data", "tensor-type" })
            Assert.Contains(results, r => r.Description.Contains(kind, StringComparison.Ordinal));
    }

    [Fact]
    public void ThirtyMutatedModels_ThroughTheW8a8Pipeline_FailCleanlyOrSucceed()
    {
        var results = FuzzCampaign.Run(Options(30, "w8a8") with { From = 1000 });
        AssertNoFailures(results, 30);
    }

    [Fact]
    public void TheHarness_CatchesEveryKindOfFailure_AndGoesOnAfterACrashOrAHang()
    {
        string[] misbehaving = ["selftest-crash", "selftest-hang", "selftest-internal", "selftest-trace", "selftest-partial", "inspect"];
        var results = FuzzCampaign.Run(Options(6, misbehaving) with { TimeoutSeconds = 3 });
        Assert.Equal(
            [FuzzOutcome.Crash, FuzzOutcome.Hang, FuzzOutcome.InternalError, FuzzOutcome.StackTrace, FuzzOutcome.PartialOutput],
            results.Take(5).Select(r => r.Outcome));
        Assert.True(results[5].Outcome.Passes(), results[5].ToString());
        Assert.Equal(Enumerable.Range(0, 6).Select(i => (long)i), results.Select(r => r.Id));
        Assert.Contains("5 failures", FuzzCampaign.Summary(results));
    }

    [Fact]
    public void ACaseIsMadeFromSeedAndIdAlone()
    {
        var bases = FuzzCampaign.LoadBases(SharedPaths.Models, _scratch.Path, needDataFile: true);
        var a = FuzzCase.Make(5, 77, bases, FuzzCase.Commands);
        var b = FuzzCase.Make(5, 77, bases, FuzzCase.Commands);
        var other = FuzzCase.Make(5, 78, bases, FuzzCase.Commands);
        Assert.Equal(a.Model, b.Model);
        Assert.Equal(a.Description, b.Description);
        Assert.NotEqual(a.Description, other.Description);
    }
}
