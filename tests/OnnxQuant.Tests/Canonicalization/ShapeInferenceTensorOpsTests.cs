using OnnxQuant.Ir;
using static OnnxQuant.Ir.Attribute;

namespace OnnxQuant.Tests.Canonicalization;

/// <summary>
/// Reshape, Transpose, Concat, Split, Slice, Gather, Squeeze/Unsqueeze, Shape, Expand, Tile, Range and friends:
/// inferred shapes equal what ONNX Runtime produces, across the opsets where their signatures changed.
/// </summary>
public class ShapeInferenceTensorOpsTests
{
    private static readonly Dictionary<string, Func<ShapeInferenceTestModel>> Builders = new()
    {
        ["reshape-zero-and-minus-one"] = () =>
        {
            var m = new ShapeInferenceTestModel();
            var x = m.Input("x", DataType.Float, 2, 3, 4);
            m.Op("Reshape", [x, m.Ints(0, -1)]);
            m.Op("Reshape", [x, m.Ints(-1, 2, 0)]);
            m.Op("Reshape", [x, m.Ints(4, 6)]);
            return m;
        },
        ["reshape-allowzero"] = () =>
        {
            var m = new ShapeInferenceTestModel(opset: 14);
            var x = m.Input("x", DataType.Float, 0, 4);
            m.Op("Reshape", [x, m.Ints(4, 0)], Int("allowzero", 1));
            m.Op("Reshape", [m.Input("y", DataType.Float, 3, 4), m.Ints(0, 2, -1)], Int("allowzero", 0));
            return m;
        },
        ["reshape-from-shape-computation"] = () =>
        {
            var m = new ShapeInferenceTestModel();
            var x = m.Input("x", DataType.Float, 2, 6, 4);
            var shape = m.Op("Shape", [x]);
            var batch = m.Op("Gather", [shape, m.Scalar(0)], Int("axis", 0));
            var seq = m.Op("Gather", [shape, m.Scalar(1)]);
            var heads = m.Op("Div", [seq, m.Scalar(3)]);
            var target = m.Op("Concat", [m.Op("Unsqueeze", [batch, m.Ints(0)]), m.Op("Unsqueeze", [heads, m.Ints(0)]), m.Ints(-1)], Int("axis", 0));
            m.Op("Reshape", [x, target]);
            var tail = m.Op("Slice", [shape, m.Ints(1), m.Ints(long.MaxValue)]);
            m.Op("Reshape", [x, m.Op("Concat", [m.Ints(-1), tail], Int("axis", 0))]);
            return m;
        },
        ["flatten"] = () =>
        {
            var m = new ShapeInferenceTestModel();
            var x = m.Input("x", DataType.Float, 2, 3, 4, 5);
            m.Op("Flatten", [x]);
            m.Op("Flatten", [x], Int("axis", 0));
            m.Op("Flatten", [x], Int("axis", -1));
            m.Op("Flatten", [x], Int("axis", 4));
            return m;
        },
        ["squeeze-unsqueeze-opset-11-attributes"] = () =>
        {
            var m = new ShapeInferenceTestModel(opset: 11);
            var x = m.Input("x", DataType.Float, 1, 3, 1, 4);
            m.Op("Squeeze", [x], Ints("axes", 0, -2));
            m.Op("Squeeze", [x]);
            m.Op("Unsqueeze", [x], Ints("axes", 0, -1, 3));
            return m;
        },
        ["squeeze-unsqueeze-opset-13-inputs"] = () =>
        {
            var m = new ShapeInferenceTestModel(opset: 13);
            var x = m.Input("x", DataType.Float, 1, 3, 1, 4);
            m.Op("Squeeze", [x, m.Ints(2)]);
            m.Op("Squeeze", [x]);
            m.Op("Unsqueeze", [x, m.Ints(-1, 1)]);
            m.Op("Unsqueeze", [m.Op("ReduceSum", [x], Int("keepdims", 0)), m.Ints(0)]);
            return m;
        },
        ["transpose"] = () =>
        {
            var m = new ShapeInferenceTestModel();
            var x = m.Input("x", DataType.Float, 2, 3, 4);
            m.Op("Transpose", [x]);
            m.Op("Transpose", [x], Ints("perm", 1, 2, 0));
            return m;
        },
        ["concat"] = () =>
        {
            var m = new ShapeInferenceTestModel();
            var a = m.Input("a", DataType.Float, 2, 3, 4);
            var b = m.Input("b", DataType.Float, 2, 5, 4);
            m.Op("Concat", [a, b, a], Int("axis", 1));
            m.Op("Concat", [a, a], Int("axis", -1));
            return m;
        },
        ["split-opset-11-attribute"] = () =>
        {
            var m = new ShapeInferenceTestModel(opset: 11);
            var x = m.Input("x", DataType.Float, 2, 9);
            m.Ops("Split", [x], 3, Int("axis", 1));
            m.Ops("Split", [x], 2, Int("axis", 1), Ints("split", 4, 5));
            return m;
        },
        ["split-opset-13-input"] = () =>
        {
            var m = new ShapeInferenceTestModel(opset: 13);
            var x = m.Input("x", DataType.Float, 6, 2);
            m.Ops("Split", [x, m.Ints(1, 5)], 2);
            m.Ops("Split", [x], 2);
            return m;
        },
        ["split-opset-18-num-outputs"] = () =>
        {
            var m = new ShapeInferenceTestModel(opset: 18);
            var x = m.Input("x", DataType.Float, 2, 7);
            m.Ops("Split", [x], 3, Int("axis", -1), Int("num_outputs", 3));
            return m;
        },
        ["slice"] = () =>
        {
            var m = new ShapeInferenceTestModel();
            var x = m.Input("x", DataType.Float, 5, 8, 6);
            m.Op("Slice", [x, m.Ints(1), m.Ints(-1)]);
            m.Op("Slice", [x, m.Ints(-100, 2), m.Ints(100, 7), m.Ints(0, -1), m.Ints(1, 2)]);
            m.Op("Slice", [x, m.Ints(-1), m.Ints(long.MinValue), m.Ints(1), m.Ints(-1)]);
            m.Op("Slice", [x, m.Ints(5), m.Ints(1), m.Ints(2), m.Ints(-2)]);
            m.Op("Slice", [x, m.Ints(3), m.Ints(2), m.Ints(0)]);
            return m;
        },
        ["slice-opset-9-attributes"] = () =>
        {
            var m = new ShapeInferenceTestModel(opset: 9);
            var x = m.Input("x", DataType.Float, 5, 8, 6);
            m.Op("Slice", [x], Ints("starts", 1, -3), Ints("ends", 1000, -1), Ints("axes", 0, 2));
            m.Op("Slice", [x], Ints("starts", 0, 2), Ints("ends", 2, 4));
            return m;
        },
        ["gather-family"] = () =>
        {
            var m = new ShapeInferenceTestModel();
            var x = m.Input("x", DataType.Float, 4, 5, 6);
            m.Op("Gather", [x, m.Constant(Tensor.FromInt64s([0, 1, 2, 3], 2, 2))], Int("axis", 1));
            m.Op("Gather", [x, m.Scalar(-1)]);
            m.Op("GatherElements", [x, m.Constant(Tensor.FromInt64s(new long[4 * 2 * 6], 4, 2, 6))], Int("axis", 1));
            m.Op("GatherND", [x, m.Constant(Tensor.FromInt64s([0, 1, 2, 3, 1, 0], 3, 2))]);
            m.Op("GatherND", [x, m.Constant(Tensor.FromInt64s([0, 1, 2, 3, 1, 0, 4, 2], 4, 1, 2))], Int("batch_dims", 1));
            m.Op("ScatterND", [x, m.Constant(Tensor.FromInt64s([1, 2], 2, 1)), m.Floats(2, 5, 6)]);
            return m;
        },
        ["shape-size-constant-of-shape"] = () =>
        {
            var m = new ShapeInferenceTestModel(opset: 15);
            var x = m.Input("x", DataType.Float, 2, 3, 4);
            var shape = m.Op("Shape", [x]);
            m.Op("Shape", [x], Int("start", 1));
            m.Op("Shape", [x], Int("start", -2), Int("end", -1));
            m.Op("Size", [x]);
            m.Op("ConstantOfShape", [shape]);
            m.Op("ConstantOfShape", [shape], FromTensor("value", Tensor.FromInt32s([7], 1)));
            return m;
        },
        ["expand-and-tile"] = () =>
        {
            var m = new ShapeInferenceTestModel();
            var x = m.Input("x", DataType.Float, 3, 1);
            m.Op("Expand", [x, m.Ints(2, 1, 6)]);
            m.Op("Expand", [x, m.Ints(4)]);
            m.Op("Tile", [x, m.Ints(2, 5)]);
            var y = m.Input("y", DataType.Float, 2, 3, 4);
            m.Op("Expand", [m.Floats(1, 1, 4), m.Op("Shape", [y])]);
            return m;
        },
        ["range"] = () =>
        {
            var m = new ShapeInferenceTestModel();
            var x = m.Input("x", DataType.Float, 2, 7);
            var n = m.Op("Gather", [m.Op("Shape", [x]), m.Scalar(1)]);
            m.Op("Range", [m.Scalar(0), n, m.Scalar(1)]);
            m.Op("Range", [m.Scalar(10), m.Scalar(1), m.Scalar(-3)]);
            m.Op("Range", [m.FloatScalar(0.5f), m.FloatScalar(3.1f), m.FloatScalar(0.5f)]);
            return m;
        },
        ["onehot-nonzero-depth-to-space"] = () =>
        {
            var m = new ShapeInferenceTestModel();
            var idx = m.Input("idx", DataType.Int64, 2, 3);
            m.Op("OneHot", [idx, m.Scalar(9), m.Floats([0f, 1f])], Int("axis", 1));
            var x = m.Input("x", DataType.Float, 1, 8, 2, 3);
            m.DataDependent.Add(m.Op("NonZero", [x]));
            m.Op("DepthToSpace", [x], Int("blocksize", 2));
            m.Op("SpaceToDepth", [m.Input("y", DataType.Float, 1, 2, 4, 6)], Int("blocksize", 2));
            return m;
        },
    };

    public static TheoryData<string> Cases() => new(Builders.Keys);

    [Theory]
    [MemberData(nameof(Cases))]
    public void InferredShapes_MatchOnnxRuntime(string name) =>
        ShapeInferenceTestSupport.AssertInferredShapesMatchOrt(Builders[name]());
}
