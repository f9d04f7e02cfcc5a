using OnnxQuant.Ir;
using OnnxQuant.Passes;

namespace OnnxQuant.Tests.Pipeline;

public class PassManagerTests
{
    [Fact]
    public void RunsPassesInOrder_WithTheirOptions()
    {
        using var model = TestModels.Chain(identities: 2);
        var manager = new PassManager([
            new PassStep(new RemoveOneIdentityPass()),
            new PassStep(new AppendIdentityPass(), new AppendOptions { Count = 3 }),
        ]);
        var context = new PassContext();

        var result = manager.Run(model, context);

        Assert.Equal(["remove-one-identity", "append-identity"], result.Runs.Select(r => r.Pass));
        Assert.All(result.Runs, r => Assert.True(r.Modified));
        Assert.Equal(1 + 3, TestModels.Count(model, "Identity"));
        Assert.Equal(1, context.Counters["remove-one-identity.removed"]);
        Assert.Equal(3, context.Counters["append-identity.appended"]);
    }

    [Fact]
    public void FixedPointGroup_RepeatsUntilARoundChangesNothing()
    {
        using var model = TestModels.Chain(identities: 3);
        var manager = new PassManager([new FixedPointStep([new PassStep(new RemoveOneIdentityPass())])]);

        var result = manager.Run(model, new PassContext());

        Assert.Equal(0, TestModels.Count(model, "Identity"));
        // Three rounds remove one Identity each; the fourth finds none and ends the group.
        Assert.Equal([1, 2, 3, 4], result.Runs.Select(r => r.Round));
        Assert.Equal([true, true, true, false], result.Runs.Select(r => r.Modified));
        Assert.True(result.Modified);
        var timing = Assert.Single(result.TimeByPass);
        Assert.Equal((4, 3), (timing.Runs, timing.Changed));
    }

    [Fact]
    public void FixedPointGroup_ThatNeverConverges_FailsNamingThePassAndTheCap()
    {
        using var model = TestModels.Chain();
        var manager = new PassManager([
            new FixedPointStep([new PassStep(new RemoveOneIdentityPass()), new PassStep(new AlwaysChangesPass())], maxIterations: 5),
        ]);

        var e = Assert.Throws<PipelineException>(() => manager.Run(model, new PassContext()));

        Assert.Contains("5 rounds", e.Message);
        Assert.Contains("always-changes still changed", e.Message);
        Assert.Contains("max-iterations", e.Message);
    }

    [Fact]
    public void CrashingPass_IsReportedWithItsNameAndThePassesBeforeIt()
    {
        using var model = TestModels.Chain(identities: 1);
        var manager = new PassManager([
            new PassStep(new AppendIdentityPass()),
            new FixedPointStep([new PassStep(new RemoveOneIdentityPass())]),
            new PassStep(new CrashingPass()),
        ]);

        var e = Assert.Throws<PassFailedException>(() => manager.Run(model, new PassContext()));

        Assert.Equal("crashing", e.PassName);
        Assert.Equal(
            ["append-identity", "remove-one-identity (round 1)", "remove-one-identity (round 2)", "remove-one-identity (round 3)"],
            e.PassesBefore);
        Assert.False(e.IsUserError);
        Assert.IsType<InvalidOperationException>(e.InnerException);
        Assert.Contains("Internal error in pass 'crashing'", e.Message);
        Assert.Contains("index out of range in the crashing pass", e.Message);
        Assert.Contains("append-identity, remove-one-identity (round 1)", e.Message);
    }

    [Fact]
    public void UserErrorThrownByAPass_KeepsItsMessage()
    {
        using var model = TestModels.Chain();
        var manager = new PassManager([new PassStep(new RemoveOneIdentityPass()), new PassStep(new RejectingPass())]);

        var e = Assert.Throws<PassFailedException>(() => manager.Run(model, new PassContext()));

        Assert.True(e.IsUserError);
        Assert.IsAssignableFrom<OnnxQuantException>(e);
        Assert.StartsWith("Node 'conv1' has an unsupported auto_pad; re-export the model with explicit pads.", e.Message);
        Assert.Contains("pass 'rejecting'", e.Message);
        Assert.Contains("remove-one-identity", e.Message);
    }

    [Fact]
    public void CancelledRun_StopsBeforeTheNextPass_WithoutWrapping()
    {
        using var model = TestModels.Chain();
        using var cancel = new CancellationTokenSource();
        var manager = new PassManager([new PassStep(new RemoveOneIdentityPass()), new PassStep(new RemoveOneIdentityPass())])
        {
            PassFinished = _ => cancel.Cancel(),
        };

        Assert.Throws<OperationCanceledException>(() => manager.Run(model, new PassContext(cancellation: cancel.Token)));
        Assert.Equal(1, TestModels.Count(model, "Identity"));
    }

    [Fact]
    public void VerifyEach_CatchesADeliberatelyBrokenPass()
    {
        using var model = TestModels.Chain();
        var manager = new PassManager([new PassStep(new RemoveOneIdentityPass()), new PassStep(new BreakOrderPass())]) { VerifyEach = true };

        var e = Assert.Throws<PassFailedException>(() => manager.Run(model, new PassContext()));

        Assert.Equal("break-order", e.PassName);
        Assert.True(e.VerificationFailed);
        Assert.Equal(["remove-one-identity"], e.PassesBefore);
        Assert.Contains("invalid after pass 'break-order'", e.Message);
        Assert.Contains("defined later", e.Message);
    }

    [Fact]
    public void WithoutVerifyEach_TheBrokenPassGoesUnnoticed()
    {
        // The control for the test above: the failure comes from verification, not from the pass.
        using var model = TestModels.Chain();
        var manager = new PassManager([new PassStep(new BreakOrderPass())]);

        var result = manager.Run(model, new PassContext());

        Assert.True(Assert.Single(result.Runs).Modified);
    }

    [Fact]
    public void VerifyEach_UsesTheGivenVerifier_BeforeTheFirstPassAndAfterEach()
    {
        using var model = TestModels.Chain();
        var calls = new List<string>();
        var manager = new PassManager([new PassStep(new RemoveOneIdentityPass()), new PassStep(new AppendIdentityPass())])
        {
            VerifyEach = true,
            Verifier = (_, when) => calls.Add(when),
        };

        manager.Run(model, new PassContext());

        Assert.Equal(["before the first pass", "after pass 'remove-one-identity'", "after pass 'append-identity'"], calls);
    }

    [Fact]
    public void VerifyEach_RejectsAnInvalidInput_BeforeBlamingAPass()
    {
        using var model = TestModels.Chain();
        new BreakOrderPass().Run(model, new PassContext());
        var manager = new PassManager([new PassStep(new RemoveOneIdentityPass())]) { VerifyEach = true };

        var e = Assert.Throws<OnnxQuantException>(() => manager.Run(model, new PassContext()));

        Assert.IsNotType<PassFailedException>(e);
        Assert.Contains("input model is invalid", e.Message);
    }

    [Fact]
    public void UnmetPrecondition_FailsWhenThePipelineIsBuilt_NotWhenItRuns()
    {
        var registry = TestRegistry.Create();

        var e = Assert.Throws<PipelineException>(() =>
            new PassManager([new PassStep(new RemoveOneIdentityPass()), new PassStep(new FuseQdqPass())], registry: registry));

        Assert.Contains("'fuse-qdq' requires 'qdq'", e.Message);
        Assert.Contains("'insert-qdq'", e.Message);
        Assert.Contains("remove-one-identity", e.Message);
    }

    [Fact]
    public void MetPrecondition_IsAccepted_WhenProvidedEarlierOrAssumed()
    {
        _ = new PassManager([new PassStep(new FakeInsertQdqPass()), new PassStep(new FuseQdqPass())]);
        _ = new PassManager([new PassStep(new FuseQdqPass())], assumed: ["qdq"]);
        Assert.Throws<PipelineException>(() => new PassManager([new PassStep(new FuseQdqPass()), new PassStep(new FakeInsertQdqPass())]));
    }

    [Fact]
    public void PrintIrAfter_DumpsTheIrAfterEachRunOfThatPass()
    {
        using var model = TestModels.Chain(identities: 2);
        var dumps = new List<string>();
        var manager = new PassManager([
            new PassStep(new AppendIdentityPass(), new AppendOptions { Enabled = false }),
            new FixedPointStep([new PassStep(new RemoveOneIdentityPass())]),
        ])
        {
            PrintIrAfter = ["remove-one-identity"],
            IrSink = dumps.Add,
        };

        manager.Run(model, new PassContext());

        Assert.Equal(3, dumps.Count);
        Assert.StartsWith("// IR after remove-one-identity (round 1)\n", dumps[0]);
        Assert.Single(Lines(dumps[0]), l => l.Contains("= Identity("));
        Assert.DoesNotContain(Lines(dumps[1]), l => l.Contains("= Identity("));
        Assert.EndsWith("(unchanged)", Lines(dumps[2])[0]);
    }

    [Fact]
    public void PrintIrAfter_APassNotInThePipeline_IsRejectedWithSuggestions()
    {
        var e = Assert.Throws<PipelineException>(() => new PassManager([new PassStep(new RemoveOneIdentityPass())])
        {
            PrintIrAfter = ["remove-one-identiy"],
        });

        Assert.Contains("Did you mean 'remove-one-identity'?", e.Message);
    }

    [Fact]
    public void PassStep_RefusesOptionsOfAnotherPass()
    {
        Assert.Throws<ArgumentException>(() => new PassStep(new RemoveOneIdentityPass(), new AppendOptions()));
    }

    private static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
}
