using OnnxQuant.Ir;
using static OnnxQuant.Ir.Attribute;

namespace OnnxQuant.Tests.Canonicalization;

/// <summary>Broadcasting and unary elementwise ops: inferred shapes and types equal what ONNX Runtime produces.</summary>
public class ShapeInferenceElementwiseTests
{
    private static readonly Dictionary<string, Func<ShapeInferenceTestModel>> Builders = new()
    {
        ["add-broadcasts-trailing"] = () => Binary("Add", [2, 3, 4], [4]),
        ["sub-broadcasts-ones-both-ways"] = () => Binary("Sub", [2, 1, 4], [3, 1]),
        ["mul-by-scalar"] = () => Binary("Mul", [2, 3], []),
        ["div-int64"] = () =>
        {
            var m = new ShapeInferenceTestModel();
            var x = m.Input("x", DataType.Int64, 2, 3);
            m.Op("Div", [x, m.Ints(1, 2, 3)]);
            return m;
        },
        ["pow-keeps-base-type"] = () =>
        {
            var m = new ShapeInferenceTestModel();
            var x = m.Input("x", DataType.Float, 2, 3);
            m.Op("Pow", [x, m.Scalar(2)]);
            return m;
        },
        ["mod-int"] = () =>
        {
            var m = new ShapeInferenceTestModel();
            var x = m.Input("x", DataType.Int64, 4, 1);
            m.Op("Mod", [x, m.Ints(3, 5)]);
            return m;
        },
        ["comparisons-give-bool"] = () =>
        {
            var m = new ShapeInferenceTestModel();
            var a = m.Input("a", DataType.Float, 2, 1, 4);
            var b = m.Input("b", DataType.Float, 3, 1);
            var eq = m.Op("Equal", [a, b]);
            var lt = m.Op("Less", [a, b]);
            m.Op("GreaterOrEqual", [a, b]);
            m.Op("And", [eq, lt]);
            m.Op("Xor", [eq, m.Op("Not", [lt])]);
            return m;
        },
        ["where-broadcasts-three"] = () =>
        {
            var m = new ShapeInferenceTestModel();
            var c = m.Input("c", DataType.Bool, 2, 1, 1);
            var x = m.Input("x", DataType.Float, 3, 1);
            var y = m.Input("y", DataType.Float, 4);
            m.Op("Where", [c, x, y]);
            return m;
        },
        ["variadic-max-min-sum-mean"] = () =>
        {
            var m = new ShapeInferenceTestModel();
            var a = m.Input("a", DataType.Float, 2, 1, 4);
            var b = m.Input("b", DataType.Float, 3, 1);
            var c = m.Input("c", DataType.Float, 4);
            m.Op("Max", [a, b, c]);
            m.Op("Min", [a, c]);
            m.Op("Sum", [a, b, c]);
            m.Op("Mean", [b, c]);
            return m;
        },
        ["prelu-slope-broadcasts"] = () => Binary("PRelu", [2, 3, 4, 5], [3, 1, 1]),
        ["activations-keep-shape"] = () =>
        {
            var m = new ShapeInferenceTestModel(opset: 20);
            Value x = m.Input("x", DataType.Float, 2, 3, 5);
            foreach (string op in new[] { "Relu", "Sigmoid", "Tanh", "Erf", "Abs", "Neg", "Exp", "HardSwish", "Softplus", "Elu", "Gelu", "Mish" })
                x = m.Op(op, [x]);
            x = m.Op("LeakyRelu", [x], Float("alpha", 0.1f));
            x = m.Op("HardSigmoid", [x]);
            x = m.Op("Sqrt", [m.Op("Abs", [x])]);
            m.Op("Log", [m.Op("Exp", [x])]);
            return m;
        },
        ["softmax-family-and-clip"] = () =>
        {
            var m = new ShapeInferenceTestModel();
            var x = m.Input("x", DataType.Float, 2, 3, 5);
            m.Op("Softmax", [x], Int("axis", 1));
            m.Op("LogSoftmax", [x]);
            m.Op("Hardmax", [x], Int("axis", 0));
            m.Op("Clip", [x, m.FloatScalar(-0.5f), m.FloatScalar(0.5f)]);
            m.Op("Clip", [x]);
            return m;
        },
        ["cast-changes-type"] = () =>
        {
            var m = new ShapeInferenceTestModel();
            var x = m.Input("x", DataType.Float, 2, 3);
            var i = m.Op("Cast", [x], Int("to", (long)DataType.Int32));
            m.Op("Cast", [i], Int("to", (long)DataType.Float16));
            m.Op("CastLike", [x, m.Ints(1)]);
            m.Op("Cast", [x], Int("to", (long)DataType.Bool));
            return m;
        },
        ["identity-dropout-isnan"] = () =>
        {
            var m = new ShapeInferenceTestModel();
            var x = m.Input("x", DataType.Float, 2, 3);
            m.Op("Identity", [x]);
            m.Ops("Dropout", [x], 2);
            m.Op("IsNaN", [x]);
            m.Op("IsInf", [x]);
            return m;
        },
        ["cumsum-trilu-lrn"] = () =>
        {
            var m = new ShapeInferenceTestModel();
            var x = m.Input("x", DataType.Float, 1, 4, 3, 3);
            m.Op("CumSum", [x, m.Scalar(1)]);
            m.Op("Trilu", [x]);
            m.Op("LRN", [x], Int("size", 3));
            m.Op("MeanVarianceNormalization", [x]);
            m.Op("LpNormalization", [x], Int("axis", 1));
            return m;
        },
    };

    public static TheoryData<string> Cases() => new(Builders.Keys);

    [Theory]
    [MemberData(nameof(Cases))]
    public void InferredShapes_MatchOnnxRuntime(string name) =>
        ShapeInferenceTestSupport.AssertInferredShapesMatchOrt(Builders[name]());

    private static ShapeInferenceTestModel Binary(string op, long[] a, long[] b)
    {
        var m = new ShapeInferenceTestModel();
        var x = m.Input("a", DataType.Float, a);
        var y = m.Input("b", DataType.Float, b);
        m.Op(op, [x, y]);
        return m;
    }
}
