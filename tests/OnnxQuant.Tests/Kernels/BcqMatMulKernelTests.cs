using OnnxQuant.Ir;
using OnnxQuant.Runtime;

namespace OnnxQuant.Tests.Kernels;

/// <summary>
/// BcqMatMul (runtime/kernels, LUT-GEMM over groups of 8 activations) in ONNX Runtime: every instruction-set path
/// this CPU has equals the scalar path bit for bit, and the scalar path equals the float product with the decoded
/// weights Ŵ = c + Σᵢ αᵢ·bᵢ (computed in double) within the float summation bound
/// (16 + ⌈K/8⌉ + blocks·(P+1))·2⁻²⁴·Σₖ |xₖ|·(|c| + Σᵢ αᵢ). Shapes cover 1–4 planes, K not a multiple of 8 or of the
/// block, N not a multiple of 16 or 8, no offsets, a bias, several rows (each row rebuilds its tables).
/// </summary>
public class BcqMatMulKernelTests
{
    public static TheoryData<int, int, int, int, int, bool, bool> Shapes => new()
    {
        { 1, 64, 16, 2, 64, true, false },
        { 1, 256, 48, 3, 64, true, true },
        { 3, 100, 37, 4, 32, true, false },
        { 5, 72, 21, 1, 16, false, true },
        { 2, 136, 9, 2, 128, true, true },
    };

    private static float[] Run(Model model, float[] a, int rows, int k) =>
        ModelRunner.RunOnce(model, new Dictionary<string, Tensor> { ["a"] = Tensor.FromFloats(a, rows, k) },
                            new RunnerOptions { IntraOpThreads = 2 })["y"].AsSpan<float>().ToArray();

    [Theory, MemberData(nameof(Shapes))]
    public void EveryPathEqualsScalar_AndTheFloatDecomposition(int rows, int k, int n, int planes, int block, bool offsets, bool bias)
    {
        var w = BcqTestWeights.Random(seed: k * 7 + n + planes, k, n, planes, block, offsets, bias);
        var a = KernelTestModels.RandomActivations(seed: rows + planes, rows, k);
        using var scalarModel = w.Model("scalar");
        var scalar = Run(scalarModel, a, rows, k);
        foreach (string isa in KernelTestModels.AvailableIsas())
        {
            using var model = w.Model(isa);
            Assert.True(scalar.AsSpan().SequenceEqual(Run(model, a, rows, k)), $"path {isa} differs from scalar");
        }
        double eps = Math.Pow(2, -24), terms = 16 + w.Groups + w.Blocks * (planes + 1);
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < n; c++)
            {
                double expected = w.Bias?[c] ?? 0, magnitude = Math.Abs(expected);
                for (int i = 0; i < k; i++)
                {
                    expected += a[r * k + i] * w.Weight(c, i);
                    magnitude += Math.Abs(a[r * k + i]) * w.Magnitude(c, i);
                }
                double bound = terms * eps * magnitude + 1e-30;
                double error = Math.Abs(scalar[r * n + c] - expected);
                Assert.True(error <= bound, $"y[{r},{c}] = {scalar[r * n + c]}, float reference {expected}: error {error:g3} > bound {bound:g3}");
            }
    }

    [Fact]
    public void ABlockSizeThatIsNotAMultipleOf8_FailsAtSessionLoad_WithAClearError()
    {
        // 48 = 3 blocks of 16 or of 20: the tensors' sizes fit, only the block size is wrong.
        var w = BcqTestWeights.Random(seed: 1, 48, 4, 2, 16, offsets: true, bias: false) with { BlockSize = 20 };
        var e = Assert.Throws<OnnxQuantException>(() => Run(w.Model(), new float[48], 1, 48));
        Assert.Contains("block_size must be a multiple of 8", e.Message);
    }

    [Fact]
    public void OffsetsThatAreNotAConstant_FailWithAClearError()
    {
        var w = BcqTestWeights.Random(seed: 2, 16, 4, 2, 16, offsets: false, bias: false);
        using var model = w.Model();
        var node = model.Graph.Nodes.Single();
        var offsets = model.Graph.AddInput("offsets", new TensorType(DataType.Float, new Shape(4, 1)));
        node.AppendInput(offsets);
        var e = Assert.Throws<OnnxQuantException>(() => ModelRunner.RunOnce(model, new Dictionary<string, Tensor>
        {
            ["a"] = Tensor.FromFloats(new float[16], 1, 16), ["offsets"] = Tensor.FromFloats(new float[4], 4, 1),
        }));
        Assert.Contains("input 3 (offsets) must be a constant initializer", e.Message);
    }
}
