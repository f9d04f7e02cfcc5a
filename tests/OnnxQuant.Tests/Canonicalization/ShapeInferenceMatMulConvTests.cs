using OnnxQuant.Ir;
using static OnnxQuant.Ir.Attribute;

namespace OnnxQuant.Tests.Canonicalization;

/// <summary>MatMul, Gemm, Einsum, convolutions and pooling: inferred shapes equal what ONNX Runtime produces.</summary>
public class ShapeInferenceMatMulConvTests
{
    private static readonly Dictionary<string, Func<ShapeInferenceTestModel>> Builders = new()
    {
        ["matmul-2d"] = () => MatMul([3, 4], [4, 5]),
        ["matmul-vector-left"] = () => MatMul([4], [2, 4, 5]),
        ["matmul-vector-right"] = () => MatMul([2, 3, 4], [4]),
        ["matmul-vector-both"] = () => MatMul([4], [4]),
        ["matmul-batch-broadcast"] = () => MatMul([2, 1, 3, 4], [5, 4, 6]),
        ["gemm-transposed"] = () =>
        {
            var m = new ShapeInferenceTestModel();
            var a = m.Input("a", DataType.Float, 4, 3);
            m.Op("Gemm", [a, m.Floats(5, 4), m.Floats(5)], Int("transA", 1), Int("transB", 1));
            m.Op("Gemm", [a, m.Floats(3, 6)]);
            return m;
        },
        ["matmul-integer"] = () =>
        {
            var m = new ShapeInferenceTestModel();
            var a = m.Input("a", DataType.UInt8, 2, 3, 4);
            m.Op("MatMulInteger", [a, m.Constant(Tensor.FromRaw(DataType.UInt8, [4, 5], new byte[20]))]);
            return m;
        },
        ["matmul-nbits"] = () =>
        {
            var m = new ShapeInferenceTestModel(microsoft: true);
            var a = m.Input("a", DataType.Float, 2, 3, 32);
            var b = m.Constant(Tensor.FromRaw(DataType.UInt8, [8, 1, 16], new byte[128]));
            var scales = m.Floats(8);
            m.OpIn("com.microsoft", "MatMulNBits", [a, b, scales], Int("K", 32), Int("N", 8), Int("bits", 4), Int("block_size", 32));
            return m;
        },
        ["fused-matmul-transposed"] = () =>
        {
            var m = new ShapeInferenceTestModel(microsoft: true);
            var a = m.Input("a", DataType.Float, 2, 4, 3);
            m.OpIn("com.microsoft", "FusedMatMul", [a, m.Floats(5, 4)], Int("transA", 1), Int("transB", 1));
            return m;
        },
        ["einsum"] = () =>
        {
            var m = new ShapeInferenceTestModel();
            var a = m.Input("a", DataType.Float, 2, 3, 4);
            var b = m.Input("b", DataType.Float, 2, 4, 5);
            m.Op("Einsum", [a, b], String("equation", "bij,bjk->bik"));
            m.Op("Einsum", [a], String("equation", "ijk->kj"));
            m.Op("Einsum", [a, b], String("equation", "...ij,...jk"));
            m.Op("Einsum", [a], String("equation", "bij->b"));
            m.Op("Einsum", [a, m.Floats(4)], String("equation", "bij,j"));
            return m;
        },
        ["conv-pads-strides-dilations"] = () =>
        {
            var m = new ShapeInferenceTestModel();
            var x = m.Input("x", DataType.Float, 1, 3, 17, 13);
            m.Op("Conv", [x, m.Floats(8, 3, 3, 3), m.Floats(8)], Ints("pads", 1, 2, 0, 1), Ints("strides", 2, 3), Ints("dilations", 2, 1));
            m.Op("Conv", [x, m.Floats(6, 1, 5, 5)], Int("group", 3), Ints("kernel_shape", 5, 5));
            return m;
        },
        ["conv-auto-pad"] = () =>
        {
            var m = new ShapeInferenceTestModel();
            var x = m.Input("x", DataType.Float, 1, 2, 15, 10);
            m.Op("Conv", [x, m.Floats(4, 2, 3, 4)], String("auto_pad", "SAME_UPPER"), Ints("strides", 2, 3));
            m.Op("Conv", [x, m.Floats(4, 2, 3, 4)], String("auto_pad", "SAME_LOWER"), Ints("strides", 4, 1));
            m.Op("Conv", [x, m.Floats(4, 2, 3, 4)], String("auto_pad", "VALID"), Ints("strides", 2, 2));
            return m;
        },
        ["conv-1d-3d"] = () =>
        {
            var m = new ShapeInferenceTestModel();
            var x1 = m.Input("x1", DataType.Float, 2, 4, 31);
            m.Op("Conv", [x1, m.Floats(6, 2, 5)], Int("group", 2), Ints("strides", 4), Ints("pads", 2, 2));
            var x3 = m.Input("x3", DataType.Float, 1, 2, 5, 6, 7);
            m.Op("Conv", [x3, m.Floats(3, 2, 2, 3, 3)], Ints("strides", 1, 2, 2));
            return m;
        },
        ["conv-transpose"] = () =>
        {
            var m = new ShapeInferenceTestModel();
            var x = m.Input("x", DataType.Float, 1, 4, 5, 7);
            m.Op("ConvTranspose", [x, m.Floats(4, 3, 3, 3)], Ints("strides", 2, 2), Ints("output_padding", 1, 0));
            m.Op("ConvTranspose", [x, m.Floats(4, 2, 3, 2)], Int("group", 2), Ints("pads", 1, 0, 1, 1), Ints("dilations", 2, 1));
            m.Op("ConvTranspose", [x, m.Floats(4, 3, 3, 3)], Ints("strides", 2, 2), Ints("output_shape", 10, 15));
            m.Op("ConvTranspose", [x, m.Floats(4, 3, 3, 3)], Ints("strides", 2, 3), String("auto_pad", "SAME_UPPER"));
            return m;
        },
        ["conv-integer-and-qlinear"] = () =>
        {
            var m = new ShapeInferenceTestModel();
            var x = m.Input("x", DataType.UInt8, 1, 2, 6, 6);
            m.Op("ConvInteger", [x, m.Constant(Tensor.FromRaw(DataType.UInt8, [3, 2, 3, 3], new byte[54]))]);
            var w = m.Constant(Tensor.FromRaw(DataType.Int8, [3, 2, 3, 3], new byte[54]));
            var scale = m.FloatScalar(0.1f);
            var zp = m.Constant(Tensor.FromRaw(DataType.UInt8, [], new byte[1]));
            var wzp = m.Constant(Tensor.FromRaw(DataType.Int8, [], new byte[1]));
            m.Op("QLinearConv", [x, scale, zp, w, scale, wzp, scale, zp], Ints("pads", 1, 1, 1, 1), Ints("strides", 2, 1));
            return m;
        },
        ["pooling"] = () =>
        {
            var m = new ShapeInferenceTestModel();
            var x = m.Input("x", DataType.Float, 1, 3, 11, 8);
            m.Op("MaxPool", [x], Ints("kernel_shape", 3, 3), Ints("strides", 2, 2), Ints("pads", 1, 1, 1, 1));
            m.Ops("MaxPool", [x], 2, Ints("kernel_shape", 2, 3), Ints("dilations", 2, 1));
            m.Op("AveragePool", [x], Ints("kernel_shape", 3, 2), Ints("strides", 3, 2), Int("count_include_pad", 1), Ints("pads", 0, 1, 0, 1));
            m.Op("LpPool", [x], Ints("kernel_shape", 2, 2), Ints("strides", 2, 2));
            m.Op("MaxPool", [x], Ints("kernel_shape", 3, 3), Ints("strides", 2, 3), String("auto_pad", "SAME_UPPER"));
            m.Op("GlobalAveragePool", [x]);
            m.Op("GlobalMaxPool", [x]);
            return m;
        },
        ["pooling-ceil-mode"] = () =>
        {
            var m = new ShapeInferenceTestModel();
            var x = m.Input("x", DataType.Float, 1, 2, 6, 9);
            // 6 with k=2, s=2, pad 1 on each side: ceil gives 4 windows, the last would start in the right padding.
            m.Op("MaxPool", [x], Ints("kernel_shape", 2, 2), Ints("strides", 2, 2), Ints("pads", 1, 1, 1, 1), Int("ceil_mode", 1));
            m.Op("AveragePool", [x], Ints("kernel_shape", 3, 3), Ints("strides", 2, 2), Int("ceil_mode", 1));
            m.Op("MaxPool", [x], Ints("kernel_shape", 2, 4), Ints("strides", 3, 4), Int("ceil_mode", 1), Ints("pads", 0, 1, 0, 1));
            return m;
        },
    };

    public static TheoryData<string> Cases() => new(Builders.Keys);

    [Theory]
    [MemberData(nameof(Cases))]
    public void InferredShapes_MatchOnnxRuntime(string name) =>
        ShapeInferenceTestSupport.AssertInferredShapesMatchOrt(Builders[name]());

    private static ShapeInferenceTestModel MatMul(long[] a, long[] b)
    {
        var m = new ShapeInferenceTestModel();
        var x = m.Input("a", DataType.Float, a);
        var y = m.Input("b", DataType.Float, b);
        m.Op("MatMul", [x, y]);
        return m;
    }
}
