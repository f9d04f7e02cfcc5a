using OnnxQuant.Ir;
using static OnnxQuant.Ir.Attribute;

namespace OnnxQuant.Tests.Canonicalization;

/// <summary>
/// Reductions, normalizations, Resize/Pad, quantization, recurrent and control-flow ops: inferred shapes equal what
/// ONNX Runtime produces.
/// </summary>
public class ShapeInferenceOtherOpsTests
{
    private static readonly Dictionary<string, Func<ShapeInferenceTestModel>> Builders = new()
    {
        ["reduce-axes-attribute"] = () =>
        {
            var m = new ShapeInferenceTestModel(opset: 13);
            var x = m.Input("x", DataType.Float, 2, 3, 4);
            m.Op("ReduceMean", [x], Ints("axes", -1));
            m.Op("ReduceMax", [x], Ints("axes", 0, 2), Int("keepdims", 0));
            m.Op("ReduceL2", [x]);
            m.Op("ReduceSum", [x, m.Ints(1)], Int("keepdims", 0));
            m.Op("ReduceSum", [x]);
            return m;
        },
        ["reduce-axes-input-opset-18"] = () =>
        {
            var m = new ShapeInferenceTestModel(opset: 18);
            var x = m.Input("x", DataType.Float, 2, 3, 4);
            m.Op("ReduceMean", [x, m.Ints(1)]);
            m.Op("ReduceProd", [x, m.Ints(-1, 0)], Int("keepdims", 0));
            m.Op("ReduceMin", [x]);
            m.Op("ReduceLogSumExp", [x, m.Ints()], Int("noop_with_empty_axes", 1));
            return m;
        },
        ["argmax-topk"] = () =>
        {
            var m = new ShapeInferenceTestModel();
            var x = m.Input("x", DataType.Float, 2, 7, 4);
            m.Op("ArgMax", [x], Int("axis", 1));
            m.Op("ArgMin", [x], Int("axis", -1), Int("keepdims", 0));
            m.Ops("TopK", [x, m.Ints(3)], 2, Int("axis", 1));
            return m;
        },
        ["normalizations"] = () =>
        {
            var m = new ShapeInferenceTestModel();
            var x = m.Input("x", DataType.Float, 2, 3, 4, 5);
            m.Ops("LayerNormalization", [x, m.Floats(4, 5), m.Floats(4, 5)], 3, Int("axis", 2));
            m.Op("LayerNormalization", [x, m.Floats(5)]);
            m.Op("BatchNormalization", [x, m.Floats(3), m.Floats(3), m.Floats(3), m.Floats([1f, 2f, 3f])]);
            m.Op("InstanceNormalization", [x, m.Floats(3), m.Floats(3)]);
            m.Op("SimplifiedLayerNormalization", [x, m.Floats(5)], Int("axis", -1));
            return m;
        },
        ["rms-normalization-opset-23"] = () =>
        {
            var m = new ShapeInferenceTestModel(opset: 23);
            var x = m.Input("x", DataType.Float, 2, 3, 4);
            m.Op("RMSNormalization", [x, m.Floats(4)]);
            return m;
        },
        ["resize-scales-and-sizes"] = () =>
        {
            var m = new ShapeInferenceTestModel(opset: 13);
            var x = m.Input("x", DataType.Float, 1, 2, 5, 7);
            m.Op("Resize", [x, null, m.Floats([1f, 1f, 2f, 1.5f])], String("mode", "nearest"));
            m.Op("Resize", [x, null, m.Floats([1f, 1f, 0.6f, 0.3f])], String("mode", "linear"));
            m.Op("Resize", [x, null, null, m.Ints(1, 2, 9, 4)]);
            m.Op("Resize", [x, m.Floats([0f, 0f, 0.2f, 0f, 1f, 1f, 0.8f, 1f]), m.Floats([1f, 1f, 2f, 2f])],
                String("coordinate_transformation_mode", "tf_crop_and_resize"), String("mode", "linear"));
            return m;
        },
        ["resize-opset-18-axes-and-policy"] = () =>
        {
            var m = new ShapeInferenceTestModel(opset: 18);
            var x = m.Input("x", DataType.Float, 1, 2, 5, 7);
            m.Op("Resize", [x, null, m.Floats([3f, 2f])], Ints("axes", 2, 3));
            m.Op("Resize", [x, null, null, m.Ints(10, 10)], Ints("axes", 2, 3), String("keep_aspect_ratio_policy", "not_larger"));
            m.Op("Resize", [x, null, null, m.Ints(10, 10)], Ints("axes", 2, 3), String("keep_aspect_ratio_policy", "not_smaller"));
            return m;
        },
        ["resize-opset-10-and-upsample-opset-9"] = () =>
        {
            var m = new ShapeInferenceTestModel(opset: 10);
            var x = m.Input("x", DataType.Float, 1, 2, 5, 7);
            m.Op("Resize", [x, m.Floats([1f, 1f, 2f, 3f])]);
            return m;
        },
        ["upsample-opset-9"] = () =>
        {
            var m = new ShapeInferenceTestModel(opset: 9);
            var x = m.Input("x", DataType.Float, 1, 2, 5, 7);
            m.Op("Upsample", [x, m.Floats([1f, 1f, 2f, 1.5f])]);
            return m;
        },
        ["microsoft-ops"] = () =>
        {
            var m = new ShapeInferenceTestModel(microsoft: true);
            var x = m.Input("x", DataType.Float, 2, 3, 8);
            m.OpsIn("com.microsoft", "SkipLayerNormalization", [x, m.Floats(2, 3, 8), m.Floats(8), m.Floats(8)], 4);
            m.OpsIn("com.microsoft", "SkipSimplifiedLayerNormalization", [x, m.Floats(2, 3, 8), m.Floats(8)], 1);
            m.OpIn("com.microsoft", "FastGelu", [x, m.Floats(8)]);
            m.OpIn("com.microsoft", "BiasGelu", [x, m.Floats(8)]);
            m.OpIn("com.microsoft", "QuickGelu", [x]);
            m.OpIn("com.microsoft", "Gelu", [x]);
            var scale = m.FloatScalar(0.05f);
            var zp = m.Constant(Tensor.FromRaw(DataType.UInt8, [], new byte[] { 128 }));
            var q = m.OpIn("com.microsoft", "QuantizeLinear", [x, scale, zp]);
            m.OpIn("com.microsoft", "DequantizeLinear", [q, scale, zp]);
            m.OpIn("com.microsoft", "QLinearAdd", [q, scale, zp, m.Constant(Tensor.FromRaw(DataType.UInt8, [8], new byte[8])), scale, zp, scale, zp]);
            return m;
        },
        ["constant-node-and-old-opsets"] = () =>
        {
            var m = new ShapeInferenceTestModel(opset: 9);
            var c = m.Op("Constant", [], FromTensor("value", Tensor.FromFloats([1f, 2f, 3f, 4f, 5f, 6f], 2, 3)));
            var x = m.Input("x", DataType.Float, 4, 2, 3);
            m.Op("Add", [x, c]);
            m.Ops("TopK", [x], 2, Int("k", 2), Int("axis", 1));
            m.Op("Compress", [x, m.Constant(Tensor.FromRaw(DataType.Bool, [3], new byte[] { 1, 0, 1 }))], Int("axis", 2));
            m.Op("Flatten", [x], Int("axis", 2));
            return m;
        },
        ["sequences"] = () =>
        {
            var m = new ShapeInferenceTestModel();
            var a = m.Input("a", DataType.Float, 2, 3);
            var b = m.Input("b", DataType.Float, 2, 3);
            var seq = m.Op("SequenceConstruct", [a, b]);
            m.Op("SequenceAt", [seq, m.Scalar(1)]);
            m.Op("SequenceLength", [seq]);
            m.Op("SequenceAt", [m.Op("SequenceInsert", [m.Op("SequenceEmpty", []), a]), m.Scalar(0)]);
            var pieces = m.Op("SplitToSequence", [m.Input("x", DataType.Float, 4, 6), m.Scalar(2)], Int("axis", 1));
            m.Op("SequenceAt", [pieces, m.Scalar(-1)]);
            m.Op("SequenceAt", [m.Op("SplitToSequence", [m.Input("y", DataType.Float, 4, 6)], Int("keepdims", 0)), m.Scalar(0)]);
            return m;
        },
        ["det-window-crop-unpool"] = () =>
        {
            var m = new ShapeInferenceTestModel(opset: 18);
            m.Op("Det", [m.Input("x", DataType.Float, 2, 3, 3)]);
            m.Op("HannWindow", [m.Scalar(10)]);
            m.Op("BlackmanWindow", [m.Scalar(7)], Int("output_datatype", (long)DataType.Double));
            m.Op("CenterCropPad", [m.Input("y", DataType.Float, 2, 5, 7), m.Ints(4, 9)], Ints("axes", 1, 2));
            var pooled = m.Input("p", DataType.Float, 1, 1, 2, 2);
            m.Op("MaxUnpool", [pooled, m.Constant(Tensor.FromInt64s([0, 3, 8, 15], 1, 1, 2, 2))], Ints("kernel_shape", 2, 2), Ints("strides", 2, 2));
            return m;
        },
        ["pad"] = () =>
        {
            var m = new ShapeInferenceTestModel(opset: 13);
            var x = m.Input("x", DataType.Float, 2, 3, 4);
            m.Op("Pad", [x, m.Ints(0, 1, 2, 0, 3, 1)]);
            m.Op("Pad", [x, m.Ints(0, 0, 1, 0, 0, 1), m.FloatScalar(1f)], String("mode", "reflect"));
            return m;
        },
        ["pad-opset-2-and-18"] = () =>
        {
            var m = new ShapeInferenceTestModel(opset: 18);
            var x = m.Input("x", DataType.Float, 2, 3, 4);
            m.Op("Pad", [x, m.Ints(1, 2, 3, 4), null, m.Ints(-1, 0)]);
            return m;
        },
        ["quantize-dequantize"] = () =>
        {
            var m = new ShapeInferenceTestModel(opset: 21);
            var x = m.Input("x", DataType.Float, 2, 3, 4);
            var q = m.Op("QuantizeLinear", [x, m.FloatScalar(0.1f), m.Constant(Tensor.FromRaw(DataType.Int8, [], new byte[1]))]);
            m.Op("DequantizeLinear", [q, m.FloatScalar(0.1f)]);
            var q2 = m.Op("QuantizeLinear", [x, m.Floats([0.1f, 0.2f, 0.3f]), m.Constant(Tensor.FromRaw(DataType.UInt16, [3], new byte[6]))], Int("axis", 1));
            m.Op("DequantizeLinear", [q2, m.Floats([0.1f, 0.2f, 0.3f])], Int("axis", 1));
            m.Op("QuantizeLinear", [x, m.FloatScalar(0.1f)]);
            m.Ops("DynamicQuantizeLinear", [x], 3);
            return m;
        },
        ["recurrent"] = () =>
        {
            var m = new ShapeInferenceTestModel();
            var x = m.Input("x", DataType.Float, 5, 2, 3);
            m.Ops("LSTM", [x, m.Floats(2, 16, 3), m.Floats(2, 16, 4)], 3, Int("hidden_size", 4), String("direction", "bidirectional"));
            m.Ops("GRU", [x, m.Floats(1, 12, 3), m.Floats(1, 12, 4)], 2, Int("hidden_size", 4));
            m.Ops("RNN", [x, m.Floats(1, 4, 3), m.Floats(1, 4, 4)], 2, String("direction", "reverse"), Int("hidden_size", 4));
            return m;
        },
        ["if-with-branches-that-agree"] = () =>
        {
            var m = new ShapeInferenceTestModel();
            var x = m.Input("x", DataType.Float, 2, 3);
            var c = m.Input("c", DataType.Bool);
            m.Op("If", [c], FromGraph("then_branch", Branch(x, "Relu")), FromGraph("else_branch", Branch(x, "Neg")));
            return m;
        },
        ["loop-and-scan"] = () =>
        {
            var m = new ShapeInferenceTestModel();
            var x = m.Input("x", DataType.Float, 2, 3);
            var body = new Graph { Name = "body" };
            body.AddInput("i", new TensorType(DataType.Int64, new Shape()));
            var cond = body.AddInput("cond", new TensorType(DataType.Bool, new Shape()));
            var acc = body.AddInput("acc", new TensorType(DataType.Float, new Shape(2, 3)));
            var add = body.Append(new Node("Add", [acc, x]));
            var condOut = body.Append(new Node("Identity", [cond]));
            var scanOut = body.Append(new Node("Relu", [add.Output]));
            body.Outputs.AddRange([condOut.Output, add.Output, scanOut.Output]);
            m.Ops("Loop", [m.Scalar(4), null, x], 2, FromGraph("body", body));

            // A body that computes its condition may stop early: the number of scan slices is unknown.
            var early = new Graph { Name = "early" };
            var iteration = early.AddInput("j", new TensorType(DataType.Int64, new Shape()));
            early.AddInput("keep_going", new TensorType(DataType.Bool, new Shape()));
            var carried = early.AddInput("carried", new TensorType(DataType.Float, new Shape(2, 3)));
            var more = early.Append(new Node("Less", [iteration, m.Scalar(2)]));
            var next = early.Append(new Node("Neg", [carried]));
            early.Outputs.AddRange([more.Output, next.Output, early.Append(new Node("Abs", [next.Output])).Output]);
            var stopped = m.Ops("Loop", [m.Scalar(10), m.Constant(Tensor.FromRaw(DataType.Bool, [], new byte[] { 1 })), x], 2, FromGraph("body", early));
            m.DataDependent.Add(stopped[1]);

            var scanBody = new Graph { Name = "scan_body" };
            var state = scanBody.AddInput("state", new TensorType(DataType.Float, new Shape(3)));
            var row = scanBody.AddInput("row", new TensorType(DataType.Float, new Shape(3)));
            var sum = scanBody.Append(new Node("Add", [state, row]));
            var doubled = scanBody.Append(new Node("Mul", [row, row]));
            scanBody.Outputs.AddRange([sum.Output, doubled.Output]);
            var seq = m.Input("seq", DataType.Float, 5, 3);
            m.Ops("Scan", [m.Floats(3), seq], 2, FromGraph("body", scanBody), Int("num_scan_inputs", 1), Ints("scan_output_axes", 1));
            return m;
        },
    };

    public static TheoryData<string> Cases() => new(Builders.Keys);

    [Theory]
    [MemberData(nameof(Cases))]
    public void InferredShapes_MatchOnnxRuntime(string name) =>
        ShapeInferenceTestSupport.AssertInferredShapesMatchOrt(Builders[name]());

    private static Graph Branch(Value outer, string op)
    {
        var g = new Graph { Name = op + "_branch" };
        var n = g.Append(new Node(op, [outer]));
        g.Outputs.Add(n.Output);
        return g;
    }
}
