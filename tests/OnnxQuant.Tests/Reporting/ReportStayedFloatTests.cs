using OnnxQuant.Ir.Building;
using OnnxQuant.Ir;
using OnnxQuant.Passes.Quantization.AutoPrecision;
using OnnxQuant.Passes.Reporting;

namespace OnnxQuant.Tests.Reporting;

/// <summary>The report's "stayed float" list: which compute layers read no quantized tensor, and the reason given.</summary>
public sealed class ReportStayedFloatTests
{
    /// <summary>x → MatMul(W1) "quantized" (its weight through a DequantizeLinear) → MatMul(W2) "kept" → MatMul(activation) "act".</summary>
    private static Model Build(params KeyValuePair<string, string>[] metadata)
    {
        var b = new GraphBuilder();
        var x = b.Input("x", DataType.Float, 1, 4);
        var codes = b.Constant(Tensor.FromSpan(DataType.Int8, new sbyte[16], [4, 4]), "w1_q");
        var scale = b.Constant(Tensor.FromFloats([0.1f]), "w1_s");
        var dq = b.Op("DequantizeLinear", [codes, scale], name: "dq");
        var a = b.Op("MatMul", [x, dq], name: "quantized");
        var w2 = b.Constant(Tensor.FromFloats(new float[16], 4, 4), "w2");
        var k = b.Op("MatMul", [a, w2], name: "kept");
        b.Output(b.Op("MatMul", [k, k], name: "act"), "y");
        var model = b.Build();
        model.Metadata.AddRange(metadata);
        return model;
    }

    [Fact]
    public void LayersWithoutAQuantizedInput_AreListed_WithTheRecordedOrTheEvidentReason()
    {
        using var model = Build();
        var layers = QuantizationReportBuilder.StayedFloat(model);
        Assert.Equal(["kept", "act"], layers.Select(l => l.Node));
        Assert.Contains("no reason recorded", layers[0].Reason);
        Assert.Contains("both inputs are activations", layers[1].Reason);
    }

    [Fact]
    public void AutoPrecisionsFloatDecision_IsTheReason()
    {
        var summary = new AutoPrecisionSummary("sqnr=30", "sqnr", 8, 24, double.PositiveInfinity, 21.5, 31.2, true, 0.5, null, 3, 12, "target holds", "built-in",
            [new AutoPrecisionDecision("kept", "kept", PrecisionChoice.Float, 12.5, 21.5, 31.2, 100, 3)]);
        using var model = Build(new KeyValuePair<string, string>(AutoPrecisionPass.MetadataKey,
            System.Text.Json.JsonSerializer.Serialize(summary, AutoPrecisionPass.JsonOptions)));
        var read = QuantizationReportBuilder.AutoPrecisionOf(model);
        Assert.NotNull(read);
        Assert.Equal(summary.Decisions, read!.Decisions);
        var kept = QuantizationReportBuilder.StayedFloat(model, read).Single(l => l.Node == "kept");
        Assert.Contains("auto-precision kept it float", kept.Reason);
        Assert.Contains("21.5", kept.Reason);
    }
}
