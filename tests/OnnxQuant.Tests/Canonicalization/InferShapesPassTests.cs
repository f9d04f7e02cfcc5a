using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Passes;
using OnnxQuant.Passes.Canonicalization;
using static OnnxQuant.Ir.Attribute;
using ShapeInference = OnnxQuant.Passes.Analysis.ShapeInference.ShapeInference;

namespace OnnxQuant.Tests.Canonicalization;

/// <summary>The infer-shapes pass: declared types, input shapes, run-ort, the reusable entry points.</summary>
public class InferShapesPassTests
{
    [Fact]
    public void Pass_IsRegistered_WithItsOptionsDescribed()
    {
        var pass = PassRegistry.BuiltIn.Get("infer-shapes");
        Assert.Equal(["shapes", "run-ort", "fail-on-conflict"], pass.Options.Select(o => o.Name));
        Assert.All(pass.Options, o => Assert.False(string.IsNullOrWhiteSpace(o.Description)));
    }

    [Fact]
    public void Recipe_SetsItsOptions()
    {
        var recipe = OnnxQuant.Passes.Recipes.RecipeLoader.Parse("""
            name: shapes
            passes:
              - infer-shapes: {shapes: ["x=1,3,48,320", "mask=batch,seq"], run-ort: true}
            """, "shapes.yaml");
        var options = (InferShapesOptions)Assert.IsType<PassStep>(Assert.Single(recipe.Steps)).Options;
        Assert.Equal(["x=1,3,48,320", "mask=batch,seq"], options.Shapes);
        Assert.True(options.RunOrt);
        Assert.False(options.FailOnConflict);
    }

    private static (ShapeInferenceTestModel Model, Value Output) ReluOf(long[] input, IrType? declared)
    {
        var m = new ShapeInferenceTestModel();
        var x = m.Input("x", DataType.Float, input);
        var y = m.Op("Relu", [x]);
        y.Type = declared;
        return (m, y);
    }

    [Fact]
    public void DeclaredKnownSize_IsKept_AndCountedAsAConflict()
    {
        var (m, y) = ReluOf([2, 3], new TensorType(DataType.Float, new Shape(2, 4)));
        var context = new PassContext { CurrentPass = "infer-shapes" };
        new InferShapesPass().Run(m.Model, context);
        Assert.Equal(new Shape(2, 4), y.Shape);
        Assert.Equal(1, context.Counters["infer-shapes.conflicts"]);
    }

    [Fact]
    public void DeclaredElementType_IsKept_AndCountedAsAConflict()
    {
        var (m, y) = ReluOf([2, 3], new TensorType(DataType.Double, null));
        var stats = ShapeInference.Run(m.Model);
        Assert.Equal(DataType.Double, y.ElementType);
        Assert.Equal(new Shape(2, 3), y.Shape);
        Assert.Single(stats.Conflicts);
    }

    [Fact]
    public void FailOnConflict_Throws_NamingTheValue()
    {
        var (m, _) = ReluOf([2, 3], new TensorType(DataType.Float, new Shape(2, 4)));
        var e = Assert.Throws<OnnxQuantException>(() =>
            new InferShapesPass().Run(m.Model, new InferShapesOptions { FailOnConflict = true }, new PassContext()));
        Assert.Contains("Relu", e.Message);
        Assert.Contains("float[2,4]", e.Message);
    }

    [Fact]
    public void DeclaredSymbolicAndUnknownSizes_YieldToInferredKnownSizes()
    {
        var (m, y) = ReluOf([2, 3], new TensorType(DataType.Float, new Shape([Dim.Symbolic("n"), Dim.Unknown])));
        var stats = ShapeInference.Run(m.Model);
        Assert.Equal(new Shape(2, 3), y.Shape);
        Assert.Empty(stats.Conflicts);
    }

    [Fact]
    public void DeclaredSymbol_IsKept_WhenInferenceHasOnlyAnotherName()
    {
        var m = new ShapeInferenceTestModel();
        var x = m.Input("x", DataType.Float, new Shape([Dim.Symbolic("batch"), 3]));
        var y = m.Op("Relu", [x]);
        y.Type = new TensorType(DataType.Float, new Shape([Dim.Symbolic("N"), Dim.Unknown]));
        ShapeInference.Run(m.Model);
        Assert.Equal(new Shape([Dim.Symbolic("N"), 3]), y.Shape);
    }

    [Fact]
    public void SecondRun_ReportsNoChange()
    {
        var m = new ShapeInferenceTestModel();
        var x = m.Input("x", DataType.Float, 2, 3, 4);
        m.Op("Softmax", [m.Op("Reshape", [x, m.Op("Shape", [x])])]);
        var pass = new InferShapesPass();
        Assert.True(pass.Run(m.Model, new PassContext()).Modified);
        Assert.False(pass.Run(m.Model, new PassContext()).Modified);
        Assert.Equal(0, ShapeInference.Run(m.Model).Refined);
    }

    [Fact]
    public void ShapesOption_FixesInputShapes_SoEveryValueBecomesStatic()
    {
        using var model = OnnxReader.Read(SharedPaths.Model("vit_mnist.onnx"));
        var options = new InferShapesOptions { Shapes = ["pixel_values=4,1,28,28"] };
        new InferShapesPass().Run(model, options, new PassContext());
        Assert.Equal(new Shape(4, 1, 28, 28), model.Graph.Inputs[0].Shape);
        Assert.All(model.Graph.Nodes.SelectMany(n => n.Outputs), v => Assert.True(v!.Shape!.IsStatic, $"{v} is {v.Type}"));
        Assert.Equal(new Shape(4, 10), model.Graph.Outputs[0].Shape);
    }

    [Theory]
    [InlineData("y=1,2", "no input 'y'")]
    [InlineData("x=1,2,3", "rank 2")]
    [InlineData("x=5,3", "declares size 2")]
    [InlineData("x=1,-3", "'-3'")]
    [InlineData("x", "name=d0,d1")]
    public void ShapesOption_RejectsWrongShapes_Clearly(string shape, string expected)
    {
        var m = new ShapeInferenceTestModel();
        m.Op("Relu", [m.Input("x", DataType.Float, new Shape([Dim.Symbolic("n"), 2]))]);
        var e = Assert.Throws<OnnxQuantException>(() =>
            new InferShapesPass().Run(m.Model, new InferShapesOptions { Shapes = [shape] }, new PassContext()));
        Assert.Contains(expected, e.Message);
    }

    /// <summary>Col2Im has no shape rule (chosen for that), so only ORT can tell its output's shape.</summary>
    private static Value Col2Im(ShapeInferenceTestModel m, Value input) =>
        m.Op("Col2Im", [input, m.Ints(4, 4), m.Ints(2, 2)]);

    [Fact]
    public void RunOrt_FillsShapesThatNoRuleInfers()
    {
        var m = new ShapeInferenceTestModel(opset: 18);
        var image = Col2Im(m, m.Input("x", DataType.Float, 2, 4, 9));
        var relu = m.Op("Relu", [image]);
        var context = new PassContext(seed: 5) { CurrentPass = "infer-shapes" };
        Assert.Equal(1, ShapeInference.Run(m.Model).UnsupportedOps["Col2Im"]);
        Assert.Null(image.Type);
        new InferShapesPass().Run(m.Model, new InferShapesOptions { RunOrt = true }, context);
        var ort = ShapeInferenceTestSupport.RunWithAllValues(m.Model);
        Assert.Equal(ort[image.Name!].Dims, image.Shape!.ToArray());
        Assert.Equal(ort[relu.Name!].Dims, relu.Shape!.ToArray());
        Assert.Equal(DataType.Float, image.ElementType);
        Assert.True(context.Counters["infer-shapes.ort-filled"] > 0);
    }

    [Fact]
    public void RunOrt_WithFreeInputSizes_FillsOnlyTypesAndRanks()
    {
        var m = new ShapeInferenceTestModel(opset: 18);
        var free = Col2Im(m, m.Input("x", DataType.Float, new Shape([Dim.Symbolic("batch"), 4, 9])));
        var fixedSize = Col2Im(m, m.Floats(2, 4, 9));
        new InferShapesPass().Run(m.Model, new InferShapesOptions { RunOrt = true }, new PassContext());
        // A size seen on a sample may follow the free inputs, so none is recorded, not even the constant one's.
        var unknown4 = new TensorType(DataType.Float, new Shape(Enumerable.Repeat(Dim.Unknown, 4)));
        Assert.Equal(unknown4, free.Type);
        Assert.Equal(unknown4, fixedSize.Type);
    }

    [Fact]
    public void RunOrt_WithInputsFixedByTheShapesOption_FillsSizes()
    {
        var m = new ShapeInferenceTestModel(opset: 18);
        var image = Col2Im(m, m.Input("x", DataType.Float, new Shape([Dim.Symbolic("batch"), 4, 9])));
        new InferShapesPass().Run(m.Model, new InferShapesOptions { RunOrt = true, Shapes = ["x=3,4,9"] }, new PassContext());
        Assert.Equal(new TensorType(DataType.Float, new Shape(3, 1, 4, 4)), image.Type);
    }

    [Fact]
    public void InferNode_TypesANodeAddedAfterInference()
    {
        var m = new ShapeInferenceTestModel();
        var x = m.Input("x", DataType.Float, 2, 8);
        var y = m.Op("Relu", [x]);
        ShapeInference.Run(m.Model);
        var node = m.Graph.Append(new Node("Split", [y, m.Ints(3, 5)], 2, attributes: [Int("axis", 1)]));
        Assert.True(ShapeInference.InferNode(node, 17));
        Assert.Equal(new Shape(2, 3), node.Outputs[0]!.Shape);
        Assert.Equal(new Shape(2, 5), node.Outputs[1]!.Shape);
        Assert.False(ShapeInference.InferNode(node, 17));
    }

    [Fact]
    public void Run_CountsOpsWithoutARule()
    {
        var m = new ShapeInferenceTestModel();
        var x = m.Input("x", DataType.Float, 2, 8);
        m.OpIn("com.example", "Mystery", [x]);
        m.OpIn("com.example", "Mystery", [x]);
        var stats = ShapeInference.Run(m.Model);
        Assert.Equal(2, stats.UnsupportedOps["com.example.Mystery"]);
    }

    [Fact]
    public void UntypedLoopAndScanBodyInputs_GetTypesFromTheNode()
    {
        var m = new ShapeInferenceTestModel();
        var x = m.Input("x", DataType.Float, 2, 3);
        var body = new Graph { Name = "body" };
        var i = body.AddInput("i", null);
        var cond = body.AddInput("cond", null);
        var acc = body.AddInput("acc", null);
        var add = body.Append(new Node("Add", [acc, x]));
        body.Outputs.AddRange([body.Append(new Node("Identity", [cond])).Output, add.Output]);
        var loop = m.Ops("Loop", [m.Scalar(4), null, x], 1, FromGraph("body", body))[0];

        var scanBody = new Graph { Name = "scan_body" };
        var state = scanBody.AddInput("state", null);
        var row = scanBody.AddInput("row", null);
        var sum = scanBody.Append(new Node("Add", [state, row]));
        scanBody.Outputs.AddRange([sum.Output, scanBody.Append(new Node("Neg", [row])).Output]);
        var scan = m.Ops("Scan", [m.Floats(3), m.Input("seq", DataType.Float, 5, 3)], 2, FromGraph("body", scanBody),
            Int("num_scan_inputs", 1));

        ShapeInference.Run(m.Model);
        Assert.Equal(new TensorType(DataType.Int64, new Shape()), i.Type);
        Assert.Equal(new TensorType(DataType.Bool, new Shape()), cond.Type);
        // Loop-carried shapes may change between iterations: only element type and rank are assumed.
        Assert.Equal(new TensorType(DataType.Float, new Shape([Dim.Unknown, Dim.Unknown])), acc.Type);
        Assert.Equal(new Shape(2, 3), add.Output.Shape);
        // The body adds x to the carried value, so broadcasting pins its shape to x's in every iteration.
        Assert.Equal(new Shape(2, 3), loop.Shape);
        Assert.Equal(new Shape(3), row.Shape);
        Assert.Equal(new Shape(5, 3), scan[1].Shape);
        Assert.Equal(DataType.Float, scan[0].ElementType);
    }

    [Fact]
    public void IfWithAKnownCondition_TakesThatBranchesTypes_AndAnUnknownOneWhatBothAgreeOn()
    {
        var m = new ShapeInferenceTestModel();
        var x = m.Input("x", DataType.Float, 2, 3);
        Graph Branch(string op, params long[] shape)
        {
            var g = new Graph { Name = op };
            var n = g.Append(new Node(op, [x, m.Ints(shape)]));
            g.Outputs.Add(n.Output);
            return g;
        }
        // The condition is computed from x's shape: Gather(Shape(x), 1) == 3.
        var known = m.Op("Equal", [m.Op("Gather", [m.Op("Shape", [x]), m.Scalar(1)]), m.Scalar(3)]);
        var taken = m.Op("If", [known], FromGraph("then_branch", Branch("Reshape", 3, 2)), FromGraph("else_branch", Branch("Reshape", 6)));
        var unknown = m.Op("If", [m.Input("c", DataType.Bool)], FromGraph("then_branch", Branch("Reshape", 3, 2)), FromGraph("else_branch", Branch("Reshape", 6)));
        ShapeInference.Run(m.Model);
        Assert.Equal(new TensorType(DataType.Float, new Shape(3, 2)), taken.Type);
        Assert.Equal(new TensorType(DataType.Float, null), unknown.Type);
        var ort = ShapeInferenceTestSupport.RunWithAllValues(m.Model);
        Assert.Equal(ort[taken.Name!].Dims, taken.Shape!.ToArray());
    }
}
