using OnnxQuant.Ir;
using OnnxQuant.Runtime;
using static OnnxQuant.Ir.Attribute;
using ShapeInference = OnnxQuant.Passes.Analysis.ShapeInference.ShapeInference;

namespace OnnxQuant.Tests.Canonicalization;

/// <summary>
/// Symbolic dimensions: broadcasting a symbol with 1 keeps it, equal symbols stay, anything ambiguous is unknown;
/// sizes computed from shapes keep their symbols, and every symbolic result agrees with ORT for concrete sizes.
/// </summary>
public class ShapeInferenceSymbolicTests
{
    private static readonly Dim Batch = Dim.Symbolic("batch");
    private static readonly Dim Seq = Dim.Symbolic("seq");

    private static Shape S(params Dim[] dims) => new(dims);

    private static Shape? Infer(string op, params Shape[] inputs)
    {
        var m = new ShapeInferenceTestModel();
        var values = inputs.Select((s, i) => m.Input("x" + i, DataType.Float, s)).ToArray();
        var y = m.Op(op, values);
        ShapeInference.Run(m.Model);
        return (y.Type as TensorType)?.Shape;
    }

    [Fact]
    public void BroadcastingASymbolWithOne_KeepsTheSymbol() =>
        Assert.Equal(S(Batch, Seq), Infer("Add", S(Batch, 1), S(1, Seq)));

    [Fact]
    public void BroadcastingEqualSymbols_KeepsThem() =>
        Assert.Equal(S(Batch, 3), Infer("Mul", S(Batch, 3), S(Batch, 1)));

    [Fact]
    public void BroadcastingDifferentSymbols_GivesUnknown() =>
        Assert.Equal(S(Dim.Unknown, 4), Infer("Add", S(Batch, 4), S(Seq, 4)));

    [Fact]
    public void BroadcastingASymbolWithAKnownSizeOtherThanOne_GivesTheKnownSize() =>
        Assert.Equal(S(5, 4), Infer("Sub", S(Batch, 4), S(5, 1)));

    [Fact]
    public void BroadcastingASymbolWithAnUnknownSize_GivesUnknown() =>
        Assert.Equal(S(Dim.Unknown), Infer("Add", S(Batch), S(Dim.Unknown)));

    [Fact]
    public void MatMul_BroadcastsSymbolicBatchDimensions() =>
        Assert.Equal(S(Batch, Seq, 5), Infer("MatMul", S(Batch, Seq, 4), S(1, 4, 5)));

    [Fact]
    public void ReshapeWithMinusOne_GivesTheProductOfTheSymbols()
    {
        var m = new ShapeInferenceTestModel();
        var x = m.Input("x", DataType.Float, S(Batch, Seq, 64));
        var y = m.Op("Reshape", [x, m.Ints(-1, 64)]);
        var z = m.Op("Reshape", [y, m.Ints(0, 8, 8)]);
        ShapeInference.Run(m.Model);
        Assert.Equal(S(Dim.Symbolic("batch*seq"), 64), y.Shape);
        Assert.Equal(S(Dim.Symbolic("batch*seq"), 8, 8), z.Shape);
    }

    [Fact]
    public void ShapeComputations_CarrySymbolsIntoReshapeAndExpand()
    {
        var m = new ShapeInferenceTestModel();
        var x = m.Input("x", DataType.Float, S(Batch, Seq, 8));
        var shape = m.Op("Shape", [x]);
        var batch = m.Op("Unsqueeze", [m.Op("Gather", [shape, m.Scalar(0)]), m.Ints(0)]);
        var seq = m.Op("Unsqueeze", [m.Op("Gather", [shape, m.Scalar(1)]), m.Ints(0)]);
        var heads = m.Op("Reshape", [x, m.Op("Concat", [batch, seq, m.Ints(2, 4)], Int("axis", 0))]);
        var mask = m.Op("Expand", [m.Floats(1, 1), m.Op("Concat", [seq, seq], Int("axis", 0))]);
        var zeros = m.Op("ConstantOfShape", [m.Op("Concat", [batch, m.Ints(3)], Int("axis", 0))]);
        ShapeInference.Run(m.Model);
        Assert.Equal(S(Batch, Seq, 2, 4), heads.Shape);
        Assert.Equal(S(Seq, Seq), mask.Shape);
        Assert.Equal(S(Batch, 3), zeros.Shape);
    }

    [Fact]
    public void SliceToTheEnd_KeepsTheSymbol_AndAPartialSliceIsUnknown()
    {
        var m = new ShapeInferenceTestModel();
        var x = m.Input("x", DataType.Float, S(Batch, Seq));
        var whole = m.Op("Slice", [x, m.Ints(0), m.Ints(long.MaxValue), m.Ints(1)]);
        var part = m.Op("Slice", [x, m.Ints(1), m.Ints(long.MaxValue), m.Ints(1)]);
        ShapeInference.Run(m.Model);
        Assert.Equal(S(Batch, Seq), whole.Shape);
        Assert.Equal(S(Batch, Dim.Unknown), part.Shape);
    }

    [Fact]
    public void SymbolicResults_AgreeWithOrt_ForConcreteSizes()
    {
        var m = new ShapeInferenceTestModel();
        var x = m.Input("x", DataType.Float, S(Batch, Seq, 8));
        var shape = m.Op("Shape", [x]);
        var seq = m.Op("Unsqueeze", [m.Op("Gather", [shape, m.Scalar(1)]), m.Ints(0)]);
        var flat = m.Op("Reshape", [x, m.Ints(-1, 8)]);
        var w = m.Op("MatMul", [flat, m.Floats(8, 3)]);
        m.Op("Softmax", [m.Op("Reshape", [w, m.Op("Concat", [m.Ints(-1), seq, m.Ints(3)], Int("axis", 0))])]);
        m.Op("Transpose", [m.Op("Unsqueeze", [x, m.Ints(1)])], Ints("perm", 3, 1, 0, 2));
        m.Op("Conv", [m.Op("Transpose", [x], Ints("perm", 0, 2, 1)), m.Floats(4, 8, 1)]);
        var feeds = SampleInputs.ForModel(m.Model, 1, new Dictionary<string, long[]> { ["x"] = [3, 5, 8] });
        var ort = ShapeInferenceTestSupport.RunWithAllValues(m.Model, feeds);
        ShapeInference.Run(m.Model);
        var comparison = ShapeInferenceTestSupport.Compare(m.Model, ort, new Dictionary<string, long> { ["batch"] = 3, ["seq"] = 5 });
        Assert.Empty(comparison.Mismatches);
        // Every dimension of every value is known or a symbol (product) that evaluates under the binding.
        int allDims = m.Graph.Nodes.SelectMany(n => n.Outputs).Sum(v => v!.Shape!.Rank);
        Assert.Equal(allDims, comparison.DimsChecked);
    }
}
