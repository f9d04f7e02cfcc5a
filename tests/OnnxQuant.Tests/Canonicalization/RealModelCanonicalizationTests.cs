using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Passes;
using OnnxQuant.Passes.Canonicalization;
using OnnxQuant.Tests.Support;

namespace OnnxQuant.Tests.Canonicalization;

/// <summary>
/// The four basic canonicalization passes in a row (constants, fold-constants, noop, dce) on shared models: each pass
/// is idempotent right after it ran, nothing dangles, and ORT computes the same outputs as for the original.
/// </summary>
public class RealModelCanonicalizationTests
{
    public static TheoryData<string> Models() => new(SharedPaths.AllModels().Select(Path.GetFileName)!);

    [Theory]
    [MemberData(nameof(Models))]
    public void BasicCanonicalization_KeepsOutputs_AndEachPassIsIdempotent(string file)
    {
        using var model = OnnxReader.Read(SharedPaths.Model(file), new OnnxReadOptions { LiftConstantNodes = false });
        using var before = Canon.Copy(model);
        int nodes = Canon.NodeCount(model);
        IPass[] passes = [new ConstantsToValuesPass(), new FoldConstantsPass(), new NoOpEliminationPass(), new DeadCodeEliminationPass()];
        var context = new PassContext();

        foreach (var pass in passes)
        {
            context.CurrentPass = pass.Name;
            pass.Run(model, Activator.CreateInstance(pass.OptionsType)!, context);
            var again = pass.Run(model, Activator.CreateInstance(pass.OptionsType)!, new PassContext());
            Assert.False(again.Modified, $"{pass.Name} changed {file} again on a second run.");
        }

        Assert.Equal(0, Canon.Count(model, "Constant"));
        Assert.Equal(0, Canon.Counter(context, "fold-constants.failed"));
        Assert.True(Canon.NodeCount(model) <= nodes, $"{file}: {nodes} nodes before, {Canon.NodeCount(model)} after.");
        Canon.AssertWellFormed(model);
        NumericAssert.SameOutputs(before, model, SharedModelInputs.For(file, before, seed: 11), relTol: 1e-6);
    }
}
