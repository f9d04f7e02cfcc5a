using OnnxQuant.Ir;
using OnnxQuant.Ir.Building;
using OnnxQuant.Passes.Numerics;
using OnnxQuant.Runtime;
using OnnxQuant.Runtime.Kernels;

namespace OnnxQuant.Tests.Kernels;

/// <summary>
/// com.onnxquant HadamardTransform in ONNX Runtime against OnnxQuant's own <see cref="HadamardTransform"/> (same
/// butterflies, same segment sums, same scale: bit for bit), for 2^m and K·2^m orders, and against the dense
/// product with <see cref="Hadamard.ForOrder"/> within float rounding.
/// </summary>
public class HadamardTransformKernelTests
{
    private static Model BuildModel(int order, bool normalized)
    {
        var (k, _) = Hadamard.Decompose(order);
        var b = new GraphBuilder(opset: 21).Opset(KernelLibrary.Domain, KernelLibrary.Version);
        var x = b.Input("x", DataType.Float, "rows", "d");
        var inputs = new List<Value?> { x };
        if (k > 1) inputs.Add(b.Constant(Tensor.FromSpan<sbyte>(DataType.Int8, Hadamard.BaseMatrix(k).Entries, [k, k]), "H_K"));
        b.Output(b.Op("HadamardTransform", inputs, [Attribute.Int("normalized", normalized ? 1 : 0)], KernelLibrary.Domain), "y");
        return b.Build();
    }

    [Theory]
    [InlineData(64, true)]
    [InlineData(768, true)]
    [InlineData(112, false)]
    [InlineData(40, true)]
    public void MatchesTheManagedTransform_BitForBit_AndTheDenseProduct(int order, bool normalized)
    {
        const int Rows = 5;
        var random = new Random(order);
        var x = Enumerable.Range(0, Rows * order).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        using var model = BuildModel(order, normalized);

        var y = ModelRunner.RunOnce(model, new Dictionary<string, Tensor> { ["x"] = Tensor.FromFloats(x, Rows, order) },
                                    new RunnerOptions { IntraOpThreads = 2 })["y"].AsSpan<float>().ToArray();

        var expected = (float[])x.Clone();
        HadamardTransform.ForOrder(order).Apply(expected, normalized);
        Assert.Equal(expected, y);
        var h = Hadamard.ForOrder(order);
        double scale = normalized ? 1 / Math.Sqrt(order) : 1;
        for (int r = 0; r < Rows; r++)
            for (int i = 0; i < order; i++)
            {
                double dense = 0;
                for (int j = 0; j < order; j++) dense += h[i, j] * (double)x[r * order + j];
                Assert.True(Math.Abs(dense * scale - y[r * order + i]) <= 1e-5 * Math.Sqrt(order), $"row {r} element {i}");
            }
    }

    [Fact]
    public void ALastAxisThatIsNotKTimesAPowerOfTwo_FailsWithAClearError()
    {
        using var model = BuildModel(768, normalized: true);
        var e = Assert.Throws<OnnxQuantException>(() => ModelRunner.RunOnce(model,
            new Dictionary<string, Tensor> { ["x"] = Tensor.FromFloats(new float[2 * 360], 2, 360) }));
        Assert.Contains("must be K·2^m with K = 12", e.Message);
    }
}
