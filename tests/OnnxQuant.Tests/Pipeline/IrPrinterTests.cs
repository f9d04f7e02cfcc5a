using OnnxQuant.Ir;
using OnnxQuant.Ir.Printing;

namespace OnnxQuant.Tests.Pipeline;

public class IrPrinterTests
{
    private static Model Sample()
    {
        var g = new Graph { Name = "main" };
        var x = g.AddInput("x", new TensorType(DataType.Float, new Shape([Dim.Symbolic("N"), Dim.Known(3)])));
        var w = g.AddConstant(Tensor.FromFloats(new float[12], 3, 4), "w");
        var mm = g.Append(new Node("MatMul", [x, w], outputNames: ["t"]));
        mm.Output.Type = new TensorType(DataType.Float, new Shape([Dim.Symbolic("N"), Dim.Known(4)]));
        var split = g.Append(new Node("Split", [mm.Output, null], outputCount: 2, attributes: [Attribute.Int("axis", 1)], outputNames: ["a", "b"]));
        var gelu = g.Append(new Node("FastGelu", [split.Outputs[0]], domain: "com.microsoft", outputNames: ["g"]));
        var branch = new Graph { Name = "then" };
        branch.Outputs.Add(branch.Append(new Node("Identity", [gelu.Output], outputNames: ["inner"])).Output);
        var cond = g.AddInput("c", new TensorType(DataType.Bool, new Shape()));
        var ifNode = g.Append(new Node("If", [cond], attributes: [Attribute.FromGraph("then_branch", branch), Attribute.FromGraph("else_branch", BranchOf(split.Outputs[1]!))], outputNames: ["y"]));
        g.Outputs.Add(ifNode.Output);
        var model = new Model(g);
        model.SetOpset("", 17);
        model.SetOpset("com.microsoft", 1);
        return model;
    }

    private static Graph BranchOf(Value v)
    {
        var g = new Graph { Name = "else" };
        g.Outputs.Add(g.Append(new Node("Identity", [v], outputNames: ["other"])).Output);
        return g;
    }

    [Fact]
    public void PrintsSignatureConstantsNodesAndIndentedSubgraphs()
    {
        using var model = Sample();

        string[] lines = IrPrinter.Print(model).Split('\n');
        // The IR names new constants itself (hint_N); names are not what this test is about.
        string w = "%" + model.Graph.Constants[0].Name;

        Assert.Equal(
        [
            "model opset ai.onnx 17, com.microsoft 1",
            "graph main(%x: float[N,3], %c: bool[]) -> (%y: ?)",
            $"  const {w}: float[3,4]",
            $"  %t = MatMul(%x, {w}) : float[N,4]",
            "  %a, %b = Split<axis=1>(%t, _)",
            "  %g = com.microsoft.FastGelu(%a)",
            "  %y = If(%c)",
            "    then_branch:",
            "      graph then() -> (%inner: ?)",
            "        %inner = Identity(%g)",
            "    else_branch:",
            "      graph else() -> (%other: ?)",
            "        %other = Identity(%b)",
            "",
        ], lines);
    }

    [Fact]
    public void ShowsConstantsByTypeAndShape_NotTheirData()
    {
        using var model = Sample();
        var g = model.Graph;
        g.Append(new Node("Constant", [], attributes: [Attribute.FromTensor("value", Tensor.FromFloats([1.5f, 2.5f], 2))]));

        string text = IrPrinter.Print(model);

        Assert.Contains("Constant<value=tensor float[2]>()", text);
        Assert.DoesNotContain("1.5", text);
    }

    [Fact]
    public void CutsLongAttributeLists()
    {
        var node = new Node("Reshape", [], attributes: [Attribute.Ints("shape", Enumerable.Range(0, 40).Select(i => (long)i).ToArray())]);

        string line = IrPrinter.Print(node);

        Assert.Contains("(40 values)", line);
        Assert.DoesNotContain(",39", line);
    }
}
