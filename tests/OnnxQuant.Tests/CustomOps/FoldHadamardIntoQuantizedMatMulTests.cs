using OnnxQuant.Ir;
using OnnxQuant.Ir.Building;
using OnnxQuant.Passes;
using OnnxQuant.Passes.CustomOps;
using OnnxQuant.Passes.Numerics;
using OnnxQuant.Runtime;
using OnnxQuant.Runtime.Kernels;
using OnnxQuant.Tests.Fusion;
using OnnxQuant.Tests.Kernels;

namespace OnnxQuant.Tests.CustomOps;

/// <summary>
/// fuse-custom-ops folds a HadamardTransform read only by MatMulW4A8/MatMulW8A8 into the matmul's row prologue: the
/// kernel transforms and quantizes each row in one pass. The kernel runs the transform's own row arithmetic, so the
/// fused graph must equal the unfused one bit for bit on every instruction set this CPU has.
/// </summary>
public class FoldHadamardIntoQuantizedMatMulTests
{
    private const int Rows = 7;

    /// <summary>a [rows, K] → HadamardTransform → MatMulW4A8 (or MatMulW8A8) → y; with <paramref name="alsoOutput"/> the
    /// transform's output is a graph output too.</summary>
    private static Model Build(int k, bool w8a8, bool normalized, string isa, bool alsoOutput = false)
    {
        var (baseOrder, _) = Hadamard.Decompose(k);
        var b = new GraphBuilder(opset: 21).Opset(KernelLibrary.Domain, KernelLibrary.Version);
        var a = b.Input("a", DataType.Float, "rows", k);
        var hInputs = new List<Value?> { a };
        if (baseOrder > 1) hInputs.Add(b.Constant(Tensor.FromSpan<sbyte>(DataType.Int8, Hadamard.BaseMatrix(baseOrder).Entries, [baseOrder, baseOrder]), "H_K"));
        var rotated = b.Op("HadamardTransform", hInputs, [Attribute.Int("normalized", normalized ? 1 : 0)], KernelLibrary.Domain);
        if (alsoOutput) b.Output(rotated, "rotated", DataType.Float, "rows", k);
        if (w8a8)
        {
            var w = KernelTestModels.RandomW8A8(seed: k, k, n: 40, perTensor: false, bias: true);
            var inputs = new List<Value?>
            {
                rotated,
                b.Constant(Tensor.FromSpan<sbyte>(DataType.Int8, w.Codes, [w.K, w.N]), "W"),
                b.Constant(Tensor.FromFloats(w.Scales, w.N), "w_scale"),
                null,
                b.Constant(Tensor.FromFloats(w.Bias!, w.N), "bias"),
            };
            b.Output(b.Op("MatMulW8A8", inputs, [Attribute.String("isa", isa)], KernelLibrary.Domain), "y");
        }
        else
        {
            var w = KernelTestModels.RandomW4A8(seed: k, k, n: 40, blockSize: 16, zeroPoints: true, bias: false);
            var inputs = new List<Value?>
            {
                rotated,
                b.Constant(Tensor.FromSpan<byte>(DataType.UInt8, KernelTestModels.PackNibbles(w.Codes), [w.N, w.Blocks, w.BlockSize / 2]), "B"),
                b.Constant(Tensor.FromFloats(w.Scales, w.N * w.Blocks), "scales"),
                b.Constant(Tensor.FromSpan<byte>(DataType.UInt8, w.PackedZeroPoints!, [w.N, (w.Blocks + 1) / 2]), "zero_points"),
            };
            var attrs = new List<Attribute> { Attribute.Int("K", w.K), Attribute.Int("N", w.N), Attribute.Int("bits", 4), Attribute.Int("block_size", w.BlockSize), Attribute.String("isa", isa) };
            b.Output(b.Op("MatMulW4A8", inputs, attrs, KernelLibrary.Domain), "y");
        }
        return b.Build();
    }

    public static TheoryData<int, bool, bool> Shapes() => new()
    {
        { 64, false, true },   // plain fast Walsh–Hadamard, 4-bit weights
        { 48, false, true },   // H_12 ⊗ H_4: the base matrix travels as hadamard_base
        { 80, true, true },    // H_20 ⊗ H_4, int8 weights
        { 128, true, false },  // unnormalized
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void TheFoldedTransform_GivesTheSameBits_OnEveryPath(int k, bool w8a8, bool normalized)
    {
        var feeds = new Dictionary<string, Tensor> { ["a"] = Tensor.FromFloats(KernelTestModels.RandomActivations(k + 1, Rows, k), Rows, k) };
        foreach (string isa in KernelTestModels.AvailableIsas())
        {
            using var model = Build(k, w8a8, normalized, isa);
            float[] unfused = ModelRunner.RunOnce(model, feeds)["y"].AsSpan<float>().ToArray();
            var context = new PassContext();
            new FuseCustomOpsPass().Run(model, new NoOptions(), context);

            var node = Assert.Single(model.Graph.Nodes);
            Assert.Equal(1, node.GetInt("hadamard", 0));
            Assert.Equal(normalized ? 1 : 0, node.GetInt("hadamard_normalized", -1));
            Assert.Equal(Hadamard.Decompose(k).BaseOrder > 1, node.GetAttribute("hadamard_base") is not null);
            Assert.Same(model.Graph.Inputs[0], node.Inputs[0]);
            Assert.Equal(1, context.Counters["hadamard-folded"]);
            float[] fused = ModelRunner.RunOnce(model, feeds)["y"].AsSpan<float>().ToArray();
            Assert.True(unfused.SequenceEqual(fused), $"{isa}: the folded transform changed the output");
        }
    }

    [Fact]
    public void DoesNotFire_WhenTheRotatedActivationHasAnotherReader()
    {
        using var model = Build(64, w8a8: false, normalized: true, "scalar", alsoOutput: true);
        FusionTestGraph.AssertDoesNotFire(model, new FuseCustomOpsPass(), "the HadamardTransform's output has other readers");
        Assert.Contains(model.Graph.Nodes, n => n.OpType == "HadamardTransform");
    }
}
