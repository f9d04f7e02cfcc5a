using OnnxQuant.Ir;
using OnnxQuant.Runtime;

namespace OnnxQuant.Tests.Kernels;

/// <summary>
/// MatMulW4A8 and MatMulW8A8 (runtime/kernels) run in ONNX Runtime through the library that <c>dotnet build</c>
/// made: every instruction-set path this CPU has equals the scalar path bit for bit, the scalar path equals the
/// integer arithmetic written out in C#, and all are within the per-token rounding bound of the float product with
/// the dequantized weights. Shapes cover K not a multiple of the block, N not a multiple of 16 (a partial tile), one
/// token (the decode path: groups of 4 tiles, then single tiles, then a partial one), more than the 64-row chunk, and
/// MatMulW4A8 with 8-bit codes (MatMulNBits' 8-bit layout, the w4a8 presets' LM head).
/// </summary>
public class QuantizedMatMulKernelTests
{
    public static TheoryData<int, int, int, int, bool, bool, int> W4A8Shapes => new()
    {
        { 1, 64, 16, 32, false, false, 4 },
        { 1, 96, 91, 32, true, true, 4 },
        { 5, 72, 37, 32, true, true, 4 },
        { 67, 96, 33, 16, true, false, 4 },
        { 3, 256, 48, 128, false, true, 4 },
        { 1, 72, 91, 8, true, true, 8 },
        { 1, 128, 80, 32, false, false, 8 },
        { 6, 96, 37, 32, true, false, 8 },
        { 66, 64, 20, 16, false, true, 8 },
    };

    private static float[] Run(Model model, float[] a, int rows, int k)
    {
        var y = ModelRunner.RunOnce(model, new Dictionary<string, Tensor> { ["a"] = Tensor.FromFloats(a, rows, k) },
                                    new RunnerOptions { IntraOpThreads = 2 });
        return y["y"].AsSpan<float>().ToArray();
    }

    [Theory, MemberData(nameof(W4A8Shapes))]
    public void MatMulW4A8_EveryPathEqualsScalar_AndTheIntegerReference(int rows, int k, int n, int block, bool zeroPoints, bool bias, int bits)
    {
        var w = KernelTestModels.RandomW4A8(seed: k * 31 + n, k, n, block, zeroPoints, bias, bits);
        var a = KernelTestModels.RandomActivations(seed: rows, rows, k);
        int blocks = w.Blocks;
        var expected = PerTokenReference.MatMul(a, rows, k, n, block, (c, i) => w.Codes[c * blocks * block + i],
                                                (c, b) => w.ZeroPoints[c * blocks + b], (c, b) => w.Scales[c * blocks + b], w.Bias);
        var scalar = Run(KernelTestModels.W4A8Model(w, isa: "scalar"), a, rows, k);
        Assert.Equal(expected, scalar);
        foreach (string isa in KernelTestModels.AvailableIsas())
        {
            using var model = KernelTestModels.W4A8Model(w, isa: isa);
            Assert.True(scalar.AsSpan().SequenceEqual(Run(model, a, rows, k)), $"path {isa} differs from scalar");
        }
        PerTokenReference.AssertWithinBound(a, rows, k, n, w.Weight, w.Bias, scalar);
    }

    [Theory]
    [InlineData(1, 64, 16, false, false)]
    [InlineData(9, 70, 19, false, true)]
    [InlineData(66, 128, 40, true, true)]
    public void MatMulW8A8_EveryPathEqualsScalar_AndTheIntegerReference(int rows, int k, int n, bool perTensor, bool bias)
    {
        var w = KernelTestModels.RandomW8A8(seed: k + n, k, n, perTensor, bias);
        var a = KernelTestModels.RandomActivations(seed: rows + 1, rows, k);
        var expected = PerTokenReference.MatMul(a, rows, k, n, k, (c, i) => w.Codes[i * n + c], (_, _) => 0,
                                                (c, _) => w.Scales[perTensor ? 0 : c], w.Bias);
        var scalar = Run(KernelTestModels.W8A8Model(w, isa: "scalar"), a, rows, k);
        Assert.Equal(expected, scalar);
        foreach (string isa in KernelTestModels.AvailableIsas())
        {
            using var model = KernelTestModels.W8A8Model(w, isa: isa);
            Assert.True(scalar.AsSpan().SequenceEqual(Run(model, a, rows, k)), $"path {isa} differs from scalar");
        }
        PerTokenReference.AssertWithinBound(a, rows, k, n, w.Weight, w.Bias, scalar);
    }

    [Fact]
    public void AForcedPathThatIsUnknown_FailsWithAClearError()
    {
        var w = KernelTestModels.RandomW8A8(seed: 1, 8, 4, perTensor: false, bias: false);
        var e = Assert.Throws<OnnxQuantException>(() => Run(KernelTestModels.W8A8Model(w, isa: "sse9"), new float[8], 1, 8));
        Assert.Contains("unknown kernel path 'sse9'", e.Message);
    }
}
