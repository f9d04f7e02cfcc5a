using OnnxQuant.Tests.Support;
using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Passes;
using OnnxQuant.Passes.Fusion;

namespace OnnxQuant.Tests.Fusion;

public class FuseMatMulAddTests
{
    private const double Tolerance = 1e-5;

    [Theory]
    [InlineData(false, new long[] { 16 })]
    [InlineData(true, new long[] { 1, 16 })]
    [InlineData(false, new long[] { 5, 16 })]
    [InlineData(true, new long[0])]
    public void FusesMatMulAdd_IntoGemm_ForRank2Activations(bool biasFirst, long[] biasDims)
    {
        var t = new FusionTestGraph(13);
        var y = t.Op("MatMul", t.Input("a", 5, 8), t.Random(-1, 1, 8, 16));
        var bias = t.Random(-1, 1, biasDims);
        t.Output(t.Op("Relu", biasFirst ? t.Op("Add", bias, y) : t.Op("Add", y, bias)));

        var result = t.RunAndCompare(new FuseMatMulAddPass(), Tolerance);

        Assert.True(result.Modified);
        Assert.Equal(1, t.Count("Gemm"));
        Assert.Equal(0, t.Count("MatMul"));
        Assert.Equal(0, t.Count("Add"));
    }

    [Fact]
    public void DoesNotFire_ForRank3Activations()
    {
        // ORT keeps MatMul+Add for 3-D activations too; Gemm would need reshapes.
        var t = new FusionTestGraph(13);
        t.Output(t.Op("Add", t.Op("MatMul", t.Input("a", 2, 5, 8), t.Random(-1, 1, 8, 16)), t.Random(-1, 1, 16)));

        t.AssertDoesNotFire(new FuseMatMulAddPass(), "the activation is not known to be 2-D");
        Assert.Equal(0, t.Count("Gemm"));
    }

    [Fact]
    public void DoesNotFire_WhenTheWeightIsNotAConstant()
    {
        var t = new FusionTestGraph(13);
        t.Output(t.Op("Add", t.Op("MatMul", t.Input("a", 5, 8), t.Input("b", 8, 16)), t.Random(-1, 1, 16)));

        var context = t.AssertDoesNotFire(new FuseMatMulAddPass(), "input 1: expected a constant, found a graph input");
    }

    [Fact]
    public void DoesNotFire_WhenTheBiasWouldBroadcastTheResult()
    {
        // [3, 5, 16] bias turns the [5, 16] product into [3, 5, 16]: Gemm cannot do that.
        var t = new FusionTestGraph(13);
        t.Output(t.Op("Add", t.Op("MatMul", t.Input("a", 5, 8), t.Random(-1, 1, 8, 16)), t.Random(-1, 1, 3, 5, 16)));

        t.AssertDoesNotFire(new FuseMatMulAddPass(), "does not broadcast to [5,16] without changing it");
        Assert.Equal(0, t.Count("Gemm"));
    }

    [Fact]
    public void DoesNotFire_WhenTheProductIsUsedTwice()
    {
        var t = new FusionTestGraph(13);
        var y = t.Op("MatMul", t.Input("a", 5, 8), t.Random(-1, 1, 8, 16));
        t.Output(t.Op("Add", y, t.Random(-1, 1, 16)));
        t.Output(y);

        t.AssertDoesNotFire(new FuseMatMulAddPass(), "the MatMul inside the pattern produces a graph output");
        Assert.Equal(1, t.Count("MatMul"));
    }

    [Fact]
    public void IsSkippedAndCounted_BelowOpset7()
    {
        var t = new FusionTestGraph(6);
        t.Output(t.Op("Add", t.Op("MatMul", t.Input("a", 5, 8), t.Random(-1, 1, 8, 16)), t.Random(-1, 1, 16)));
        var context = new PassContext();
        Assert.False(VerifiedPass.Run(new FuseMatMulAddPass(), t.Model, context).Modified);
        Assert.Empty(FusionTestGraph.Reasons(context));
        Assert.Equal(1, context.Counters.GetValueOrDefault("skipped-opset"));
    }

    [Fact]
    public void SecondRun_ChangesNothing()
    {
        var t = new FusionTestGraph(13);
        t.Output(t.Op("Add", t.Op("MatMul", t.Input("a", 5, 8), t.Random(-1, 1, 8, 16)), t.Random(-1, 1, 16)));
        var pass = new FuseMatMulAddPass();
        Assert.True(pass.Run(t.Model, new PassContext()).Modified);
        var bytes = OnnxWriter.ToBytes(t.Model);

        Assert.False(pass.Run(t.Model, new PassContext()).Modified);
        Assert.Equal(bytes, OnnxWriter.ToBytes(t.Model));
    }
}
