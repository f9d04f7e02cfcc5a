using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Analysis.ShapeInference;

/// <summary>
/// Quantization ops keep the input's shape; the element type comes from the zero point (QuantizeLinear: else
/// output_dtype, else uint8) or from the scale (DequantizeLinear: unless output_dtype says otherwise).
/// </summary>
internal static class QuantizationRules
{
    public static void Register(RuleRegistration add)
    {
        add("", Quantize, "QuantizeLinear");
        add("com.microsoft", Quantize, "QuantizeLinear");
        add("", Dequantize, "DequantizeLinear");
        add("com.microsoft", Dequantize, "DequantizeLinear");
        add("", DynamicQuantize, "DynamicQuantizeLinear");
        add("com.microsoft", c => c.Set(0, c.ElementType(7) ?? c.ElementType(0), DimMath.Broadcast([c.ShapeOf(0), c.ShapeOf(3)])),
            "QLinearAdd", "QLinearMul");
        add("com.microsoft", c => c.SameAsInput(0, 0, c.ElementType(4) ?? c.ElementType(0)),
            "QLinearSigmoid", "QLinearLeakyRelu", "QLinearSoftmax");
    }

    private static void Quantize(NodeShapeContext c)
    {
        long dtype = c.Int("output_dtype", 0);
        var type = c.Has(2) ? c.ElementType(2) : dtype != 0 ? (DataType)dtype : DataType.UInt8;
        c.SameAsInput(0, 0, type ?? DataType.Undefined);
    }

    private static void Dequantize(NodeShapeContext c)
    {
        long dtype = c.Int("output_dtype", 0);
        var type = dtype != 0 ? (DataType)dtype : c.ElementType(1) ?? DataType.Float;
        c.SameAsInput(0, 0, type);
    }

    private static void DynamicQuantize(NodeShapeContext c)
    {
        c.SameAsInput(0, 0, DataType.UInt8);
        c.Set(1, DataType.Float, new Shape(Array.Empty<Dim>()));
        c.Set(2, DataType.UInt8, new Shape(Array.Empty<Dim>()));
    }
}
