using OnnxQuant.Ir;
using OnnxQuant.Ir.Building;
using OnnxQuant.Passes.LinearLayers;
using OnnxQuant.Passes.Quantization.Rounding;
using static OnnxQuant.Tests.Quantization.QdqTestKit;

namespace OnnxQuant.Tests.Quantization.Rounding;

/// <summary>GPTQ says when a layer's XᵀX has fewer calibration rows than input columns (issue 12's vit_mnist head).</summary>
public class RankDeficientHessianWarningTests
{
    [Fact]
    public void FewerRowsThanColumns_IsSaidOncePerSharedInput_AndNotWhenRowsSuffice()
    {
        const int K = 16;
        var b = new GraphBuilder(opset: 21);
        var x = b.Input("x", DataType.Float, 2, K);
        var q = b.Op("MatMul", x, b.Constant(Tensor.FromFloats(RandomFloats(1, K * 4, -1, 1), K, 4), "wq"));
        var k = b.Op("MatMul", x, b.Constant(Tensor.FromFloats(RandomFloats(2, K * 4, -1, 1), K, 4), "wk"));
        b.Output(b.Op("MatMul", b.Op("Add", q, k), b.Constant(Tensor.FromFloats(RandomFloats(3, 4 * 2, -1, 1), 4, 2), "wh")), "y", DataType.Float, 2, 2);
        using var model = b.Build();
        var layers = model.Graph.Nodes.Where(n => n.OpType == "MatMul").Select(n => { Assert.Null(LinearLayer.TryRead(n, out var l)); return l!; }).ToList();
        var shared = new double[K * K];      // q and k read x: one XᵀX of 8 rows for K = 16
        var head = new double[4 * 4];        // the head reads 4 columns from 8 rows: enough
        var log = new List<string>();
        var wrapped = RankDeficientHessianWarning.Wrap(l => l.Node.Inputs[0] == x ? (shared, 8) : (head, 8), "quantize-weights", log.Add);

        foreach (var layer in layers) Assert.Equal(8, wrapped(layer).Rows);

        string message = Assert.Single(log);
        Assert.Contains("calibrated on 8 rows for K = 16 columns", message);
        Assert.Contains("rank-deficient", message);
        Assert.Contains("--count", message);
    }
}
