using OnnxQuant.Ir;

namespace OnnxQuant.Tests.Calibration;

/// <summary>Tiny models with the inputs the data-source tests need.</summary>
internal static class CalibrationTestModels
{
    /// <summary>Inputs a and b, float[batch, 3]; output a + b.</summary>
    public static Model TwoInputs()
    {
        var g = new Graph();
        var model = new Model(g) { IrVersion = 10 };
        model.SetOpset("", 17);
        var a = g.AddInput("a", new TensorType(DataType.Float, new Shape([Dim.Symbolic("batch"), Dim.Known(3)])));
        var b = g.AddInput("b", new TensorType(DataType.Float, new Shape([Dim.Symbolic("batch"), Dim.Known(3)])));
        var sum = g.Append(new Node("Add", [a, b])).Output;
        sum.Type = new TensorType(DataType.Float);
        g.Outputs.Add(sum);
        return model;
    }

    /// <summary>One float input [batch, channels, height, width]; output its Relu.</summary>
    public static Model Image(int channels, int height, int width)
    {
        var g = new Graph();
        var model = new Model(g) { IrVersion = 10 };
        model.SetOpset("", 17);
        var x = g.AddInput("image", new TensorType(DataType.Float, new Shape([Dim.Symbolic("batch"), Dim.Known(channels), Dim.Known(height), Dim.Known(width)])));
        var y = g.Append(new Node("Relu", [x])).Output;
        y.Type = new TensorType(DataType.Float);
        g.Outputs.Add(y);
        return model;
    }
}
