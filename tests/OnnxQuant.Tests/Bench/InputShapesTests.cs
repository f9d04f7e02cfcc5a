using OnnxQuant.Ir;
using OnnxQuant.Runtime.Benchmarking;

namespace OnnxQuant.Tests.Bench;

public class InputShapesTests
{
    [Fact]
    public void Parse_ReadsRepeatedSpecs_ByInputName()
    {
        var shapes = InputShapes.Parse(["pixel_values=1,3,224,224", "ids=2, 7", "a=b=5"]);
        Assert.Equal([1L, 3, 224, 224], shapes["pixel_values"]);
        Assert.Equal([2L, 7], shapes["ids"]);
        // Sizes never contain '=', so a name may.
        Assert.Equal([5L], shapes["a=b"]);
    }

    [Theory]
    [InlineData("pixel_values", "expected NAME=D0,D1,...")]
    [InlineData("=1,3", "expected NAME=D0,D1,...")]
    [InlineData("x=", "no sizes after '='")]
    [InlineData("x=1,,2", "'' is not a size")]
    [InlineData("x=1,-2", "'-2' is not a size")]
    [InlineData("x=1,0", "'0' is not a size")]
    [InlineData("x=1.5", "'1.5' is not a size")]
    [InlineData("x=1xx", "'1xx' is not a size")]
    public void Parse_RefusesMalformedSpecs_QuotingThem(string spec, string expected)
    {
        var e = Assert.Throws<OnnxQuantException>(() => InputShapes.Parse([spec]));
        Assert.Contains(expected, e.Message);
        Assert.Contains($"'{spec}'", e.Message);
    }

    [Fact]
    public void Parse_RefusesTheSameInputTwice()
    {
        var e = Assert.Throws<OnnxQuantException>(() => InputShapes.Parse(["x=1", "x=2"]));
        Assert.Contains("'x' twice", e.Message);
    }

    [Fact]
    public void Resolve_TakesStaticShapesFromTheModel_AndFreeOnesFromTheSpecs()
    {
        using var model = TwoInputs();
        var shapes = InputShapes.Resolve(model, new Dictionary<string, long[]> { ["x"] = [4, 16] }, "m.onnx");
        Assert.Equal([4L, 16], shapes["x"]);
        Assert.Equal([2L, 3], shapes["ids"]);
        Assert.Equal(2, shapes.Count);
    }

    [Fact]
    public void Resolve_RefusesAFreeDimensionWithoutASize_NamingTheInputAndTheFix()
    {
        using var model = TwoInputs();
        var e = Assert.Throws<OnnxQuantException>(() => InputShapes.Resolve(model, new Dictionary<string, long[]>(), "m.onnx"));
        Assert.Contains("Input 'x' of m.onnx", e.Message);
        Assert.Contains("'batch' (dimension 0)", e.Message);
        Assert.Contains("--shape x=1,16", e.Message);
    }

    [Fact]
    public void Resolve_RefusesAnUnknownInputName_ListingTheInputs()
    {
        using var model = TwoInputs();
        var e = Assert.Throws<OnnxQuantException>(() => InputShapes.Resolve(
            model, new Dictionary<string, long[]> { ["x"] = [1, 16], ["pixels"] = [1] }, "m.onnx"));
        Assert.Contains("'pixels', which is not an input of m.onnx", e.Message);
        Assert.Contains("x, ids", e.Message);
    }

    [Theory]
    [InlineData(new long[] { 1, 16, 1 }, "has 3 dimensions, but input 'x' of m.onnx has 2")]
    [InlineData(new long[] { 1, 8 }, "sets dimension 1 to 8, but input 'x' of m.onnx fixes it to 16")]
    public void Resolve_RefusesSizesThatContradictTheModel(long[] sizes, string expected)
    {
        using var model = TwoInputs();
        var e = Assert.Throws<OnnxQuantException>(() => InputShapes.Resolve(model, new Dictionary<string, long[]> { ["x"] = sizes }, "m.onnx"));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Resolve_RefusesAnInputWithoutShape_UnlessGiven()
    {
        var graph = new Graph();
        graph.AddInput("x", new TensorType(DataType.Float, null));
        using var model = new Model(graph);
        var e = Assert.Throws<OnnxQuantException>(() => InputShapes.Resolve(model, new Dictionary<string, long[]>(), "m.onnx"));
        Assert.Contains("'x' of m.onnx has no recorded shape", e.Message);
        Assert.Equal([3L, 5], InputShapes.Resolve(model, new Dictionary<string, long[]> { ["x"] = [3, 5] }, "m.onnx")["x"]);
    }

    /// <summary>x: float[batch,16] (one free dimension), ids: int64[2,3] (static).</summary>
    private static Model TwoInputs()
    {
        var graph = new Graph();
        graph.AddInput("x", new TensorType(DataType.Float, new Shape(["batch", 16])));
        graph.AddInput("ids", new TensorType(DataType.Int64, new Shape(2, 3)));
        return new Model(graph);
    }
}
