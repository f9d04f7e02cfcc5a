using OnnxQuant.Passes.Reporting;
using ScottPlot;

namespace OnnxQuant.Cli.Reporting;

/// <summary>The report's plots as PNG bytes (ScottPlot, rendered headless), deterministic for the same numbers.</summary>
public static class ReportPlots
{
    /// <summary>SQNR of every intermediate tensor against its position in the network.</summary>
    public static byte[] SqnrThroughNetwork(IReadOnlyList<LayerError> layers)
    {
        var plot = new Plot();
        var finite = layers.Where(l => l.SqnrDb is double d && double.IsFinite(d)).ToList();
        if (finite.Count > 0)
        {
            var line = plot.Add.Scatter(finite.Select(l => (double)l.Position).ToArray(), finite.Select(l => l.SqnrDb!.Value).ToArray());
            line.MarkerSize = 3;
            line.LineWidth = 1;
        }
        plot.Title("Output SQNR of each tensor through the network");
        plot.XLabel("tensor (float model's node order)");
        plot.YLabel("SQNR (dB), higher is better");
        return plot.GetImageBytes(900, 360, ImageFormat.Png);
    }

    /// <summary>A tensor's float and quantized value histograms over one range.</summary>
    public static byte[] Distribution(TensorHistogram h)
    {
        var plot = new Plot();
        int bins = h.FloatCounts.Length;
        double width = (h.Max - h.Min) / bins;
        var centers = Enumerable.Range(0, bins).Select(i => h.Min + (i + 0.5) * width).ToArray();
        var f = plot.Add.Scatter(centers, h.FloatCounts.Select(c => Math.Log10(1 + c)).ToArray());
        f.LegendText = "float";
        f.MarkerSize = 0;
        f.ConnectStyle = ConnectStyle.StepHorizontal;
        var q = plot.Add.Scatter(centers, h.QuantCounts.Select(c => Math.Log10(1 + c)).ToArray());
        q.LegendText = "quantized";
        q.MarkerSize = 0;
        q.ConnectStyle = ConnectStyle.StepHorizontal;
        plot.ShowLegend();
        string name = h.Tensor.Length > 40 ? "…" + h.Tensor[^39..] : h.Tensor;
        plot.Title($"{name} ({(h.SqnrDb is double d ? $"{d:F1} dB" : "n/a")})");
        plot.XLabel("value");
        // Logarithmic counts: the tails, where clipping and outliers show, are orders of magnitude below the peak.
        plot.YLabel("log10(1 + count), first sample");
        return plot.GetImageBytes(440, 300, ImageFormat.Png);
    }

    /// <summary>Weight SQNR per quantized layer, in node order.</summary>
    public static byte[] WeightErrors(IReadOnlyList<WeightError> weights)
    {
        var plot = new Plot();
        var finite = weights.Where(w => w.SqnrDb is double d && double.IsFinite(d)).ToList();
        if (finite.Count > 0)
        {
            var bars = plot.Add.Bars(Enumerable.Range(0, finite.Count).Select(i => (double)i).ToArray(), finite.Select(w => w.SqnrDb!.Value).ToArray());
            bars.Color = Colors.SteelBlue;
        }
        plot.Title("Weight SQNR per quantized layer");
        plot.XLabel("layer (node order)");
        plot.YLabel("SQNR (dB)");
        return plot.GetImageBytes(900, 300, ImageFormat.Png);
    }
}
