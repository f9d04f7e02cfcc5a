using OnnxQuant.Ir;
using OnnxQuant.Runtime;

namespace OnnxQuant.Tests.Kernels;

/// <summary>
/// com.onnxquant Log2AttnMatMul in ONNX Runtime: every instruction-set path this CPU has equals the arithmetic written
/// out in C# bit for bit (<see cref="Log2AttnReference.Expected"/>), for 2-, 4-, 6- and 8-bit codes and uint8/int8 V,
/// and that arithmetic equals the definition Σ s·2^(−q/2)·s_V·(V − z) within double rounding.
/// </summary>
public class Log2AttnMatMulKernelTests
{
    public static TheoryData<int, bool> Widths() => new() { { 2, false }, { 4, false }, { 4, true }, { 6, false }, { 8, false }, { 8, true } };

    private static float[] Run(Model model, Log2AttnReference.Case c, int threads = 2) =>
        ModelRunner.RunOnce(model, Log2AttnReference.Feeds(c), new RunnerOptions { IntraOpThreads = threads })["y"].AsSpan<float>().ToArray();

    [Theory]
    [MemberData(nameof(Widths))]
    public void EveryPath_EqualsTheIntegerReference_BitForBit(int bits, bool signed)
    {
        var c = Log2AttnReference.Random(seed: bits * 10 + (signed ? 1 : 0), bits, signed);
        var expected = Log2AttnReference.Expected(c);
        foreach (string isa in KernelTestModels.AvailableIsas())
        {
            using var model = Log2AttnReference.CustomOpModel(c, isa);
            Assert.Equal(expected, Run(model, c));
        }
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void TheShiftForm_EqualsTheDefinition_WithinDoubleThenFloatRounding(int bits, bool signed)
    {
        var c = Log2AttnReference.Random(seed: 100 + bits, bits, signed);
        var y = Log2AttnReference.Expected(c);
        var (value, magnitude) = Log2AttnReference.Definition(c);
        int nonzero = 0;
        for (int i = 0; i < y.Length; i++)
        {
            Assert.True(Math.Abs(y[i] - value[i]) <= Math.Abs(value[i]) * 6e-8 + magnitude[i] * 1e-12, $"element {i}: {y[i]} vs {value[i]}");
            if (value[i] != 0) nonzero++;
        }
        Assert.True(nonzero > y.Length / 10);  // most probabilities have a code (2 bits: those above ≈ s/5)
    }

    [Fact]
    public void OddShapes_AndOneThread_GiveTheSameBits()
    {
        var c = Log2AttnReference.Random(seed: 7, bits: 4, signed: false, batch: 1, m: 65, t: 17, n: 3);
        using var model = Log2AttnReference.CustomOpModel(c);
        Assert.Equal(Log2AttnReference.Expected(c), Run(model, c, threads: 1));
    }

    [Fact]
    public void MismatchedKeys_FailWithAClearError()
    {
        var c = Log2AttnReference.Random(seed: 8, bits: 4, signed: false);
        using var model = Log2AttnReference.CustomOpModel(c, symbolicKeys: true);
        var feeds = Log2AttnReference.Feeds(c);
        feeds["v"] = Tensor.FromSpan<byte>(DataType.UInt8, new byte[c.Batch * (c.T + 1) * c.N], [c.Batch, 1, c.T + 1, c.N]);
        var e = Assert.Throws<OnnxQuantException>(() => ModelRunner.RunOnce(model, feeds));
        Assert.Contains($"A's last axis ({c.T}) must equal V's second-to-last ({c.T + 1})", e.Message);
    }
}
