using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Passes.Canonicalization;
using OnnxQuant.Runtime;
using OnnxQuant.Tests.Support;

namespace OnnxQuant.Tests.Canonicalization;

public class ConstantsToValuesPassTests
{
    private static readonly ConstantsToValuesPass Pass = new();

    private static Value ConstantNode(TinyModel m, Attribute value) => m.Op("Constant", [], value);

    /// <summary>x [2,3] combined with one Constant node of each value* kind; a string constant is a graph output.</summary>
    private static TinyModel EveryKind()
    {
        var m = new TinyModel(opset: 13);
        var x = m.Input("x", DataType.Float, 2, 3);
        var dense = ConstantNode(m, Attribute.FromTensor("value", Tensor.FromFloats([1, 2, 3, 4, 5, 6], 2, 3)));
        var sparse = ConstantNode(m, Attribute.FromTensor("sparse_value",
            new SparseTensor(Tensor.FromFloats([5, 7], 2), Tensor.FromInt64s([1, 4], 2), [2, 3]).ToDense()));
        var scalar = ConstantNode(m, Attribute.Float("value_float", 0.5f));
        var floats = ConstantNode(m, Attribute.Floats("value_floats", 1, -1, 2));
        var oneInt = ConstantNode(m, Attribute.Int("value_int", 3));
        var ints = ConstantNode(m, Attribute.Ints("value_ints", 3, 2));
        var text = ConstantNode(m, Attribute.String("value_string", "hello"));
        var texts = ConstantNode(m, Attribute.Strings("value_strings", "a", "b"));
        var y = m.Op("Add", x, dense);
        y = m.Op("Add", y, sparse);
        y = m.Op("Mul", y, scalar);
        y = m.Op("Add", y, floats);
        y = m.Op("Add", y, m.Op("Cast", [oneInt], Attribute.Int("to", (long)DataType.Float)));
        m.Output(m.Op("Reshape", y, ints), DataType.Float, 3, 2);
        m.Output(text, DataType.String);
        m.Output(texts, DataType.String, 2);
        return m;
    }

    [Fact]
    public void LiftsEveryKindOfConstantNode_WithIdenticalOutputs()
    {
        var m = EveryKind();
        using var before = m.Copy();
        Assert.Equal(8, Canon.Count(before, "Constant"));

        var (modified, context) = Canon.Run(Pass, m.Model);

        Assert.True(modified);
        Assert.Equal(0, Canon.Count(m.Model, "Constant"));
        Assert.Equal(8, m.Graph.Constants.Count);
        Assert.Equal(8, Canon.Counter(context, "lifted"));
        // The sparse constant stays sparse, so it is written as a sparse initializer.
        Assert.Single(m.Graph.Constants, c => c.Const!.SparseForm is not null);
        Canon.AssertWellFormed(m.Model);
        var feeds = SampleInputs.ForModel(before, seed: 1);
        NumericAssert.SameOutputs(before, m.Model, feeds, relTol: 0);
    }

    [Fact]
    public void ConstantThatIsAGraphOutput_KeepsTheOutputName()
    {
        var m = EveryKind();
        string[] names = m.Graph.Outputs.Select(v => v.Name!).ToArray();

        Canon.Run(Pass, m.Model);

        Assert.Equal(names, m.Graph.Outputs.Select(v => v.Name));
        Assert.True(m.Graph.Outputs[1].IsConstant);
        Assert.Equal("hello", System.Text.Encoding.UTF8.GetString(m.Graph.Outputs[1].Const!.Strings[0]));
    }

    [Fact]
    public void ModelReadWithoutLifting_LosesAllConstantNodes()
    {
        var built = EveryKind();
        using var read = OnnxReader.Read(OnnxWriter.ToBytes(built.Model), options: new OnnxReadOptions { LiftConstantNodes = false });
        using var before = Canon.Copy(read);
        Assert.Equal(8, Canon.Count(read, "Constant"));

        Canon.Run(Pass, read);

        Assert.Equal(0, Canon.Count(read, "Constant"));
        NumericAssert.SameOutputs(before, read, SampleInputs.ForModel(before, seed: 2), relTol: 0);
    }

    [Fact]
    public void SecondRun_ReportsNoChange()
    {
        var m = EveryKind();
        Canon.Run(Pass, m.Model);

        var (modified, _) = Canon.Run(Pass, m.Model);

        Assert.False(modified);
    }

    /// <summary>An If whose then-branch adds a Constant node's value to the outer x; the else-branch negates x.</summary>
    private static TinyModel WithConstantInBranch()
    {
        var m = new TinyModel();
        var x = m.Input("x", DataType.Float, 3);
        var cond = m.Input("cond", DataType.Bool);
        var ifNode = m.Node("If", [cond]);
        var thenBranch = m.Subgraph(ifNode, "then_branch");
        var c = thenBranch.Append(new Node("Constant", [], attributes: [Attribute.FromTensor("value", Tensor.FromFloats([10, 20, 30], 3))])).Output;
        thenBranch.Outputs.Add(thenBranch.Append(new Node("Add", [x, c])).Output);
        var elseBranch = m.Subgraph(ifNode, "else_branch");
        elseBranch.Outputs.Add(elseBranch.Append(new Node("Neg", [x])).Output);
        m.Output(ifNode.Output, DataType.Float, 3);
        return m;
    }

    [Fact]
    public void ConstantNodeInsideSubgraph_BecomesAConstantOfThatSubgraph()
    {
        var m = WithConstantInBranch();
        using var before = m.Copy();

        Canon.Run(Pass, m.Model);

        var then = m.Graph.Nodes.Single().GetAttribute("then_branch")!.AsGraph();
        Assert.Equal(0, Canon.Count(m.Model, "Constant"));
        Assert.Single(then.Constants);
        Assert.Empty(m.Graph.Constants);
        foreach (bool cond in new[] { true, false })
        {
            var feeds = new Dictionary<string, Tensor>
            {
                ["x"] = Tensor.FromFloats([1, 2, 3], 3),
                ["cond"] = Tensor.FromRaw(DataType.Bool, [], new byte[] { cond ? (byte)1 : (byte)0 }),
            };
            NumericAssert.SameOutputs(before, m.Model, feeds, relTol: 0);
        }
    }

    [Fact]
    public void DoesNotFire_InSubgraphs_WhenSubgraphsAreOff()
    {
        var m = WithConstantInBranch();

        var (modified, _) = Canon.Run(Pass, m.Model, new ConstantsToValuesOptions { Subgraphs = false });

        Assert.False(modified);
        Assert.Equal(1, Canon.Count(m.Model, "Constant"));
    }

    [Fact]
    public void DoesNotFire_InFunctionBodies_AndCountsThem()
    {
        var m = new TinyModel();
        m.Model.OpsetImports.Add(new OpsetImport("test.fn", 1));
        var body = new Graph { Name = "AddTen" };
        var a = body.AddInput("a", null);
        var ten = body.Append(new Node("Constant", [], attributes: [Attribute.Float("value_float", 10)])).Output;
        body.Outputs.Add(body.Append(new Node("Add", [a, ten])).Output);
        var function = new Function("AddTen", "test.fn", body);
        function.OpsetImports.Add(new OpsetImport("", 17));
        m.Model.Functions.Add(function);
        var x = m.Input("x", DataType.Float, 2);
        m.Output(m.Graph.Append(new Node("AddTen", [x], domain: "test.fn")).Output, DataType.Float, 2);
        using var before = m.Copy();

        var (modified, context) = Canon.Run(Pass, m.Model);

        Assert.False(modified);
        Assert.Equal(1, Canon.Count(m.Model, "Constant"));
        Assert.Equal(1, Canon.Counter(context, "skipped-in-function"));
        NumericAssert.SameOutputs(before, m.Model, new Dictionary<string, Tensor> { ["x"] = Tensor.FromFloats([1, 2], 2) }, relTol: 0);
    }

    [Fact]
    public void PpOcr_ReadWithoutLifting_LosesEveryConstantNode_WithIdenticalOutputs()
    {
        using var model = OnnxReader.Read(SharedPaths.Model("ppocr_v4_rec.onnx"), new OnnxReadOptions { LiftConstantNodes = false });
        using var before = Canon.Copy(model);
        int constants = Canon.Count(model, "Constant");
        int others = Canon.NodeCount(model) - constants;
        Assert.True(constants > 100, $"expected the weights as Constant nodes, found {constants}");

        var (modified, context) = Canon.Run(Pass, model);

        Assert.True(modified);
        Assert.Equal(0, Canon.Count(model, "Constant"));
        Assert.Equal(others, Canon.NodeCount(model));
        Assert.Equal(constants, Canon.Counter(context, "lifted"));
        var feeds = SampleInputs.ForModel(before, seed: 7, new Dictionary<string, long[]> { ["x"] = [1, 3, 48, 320] });
        NumericAssert.SameOutputs(before, model, feeds, relTol: 0);
    }
}
