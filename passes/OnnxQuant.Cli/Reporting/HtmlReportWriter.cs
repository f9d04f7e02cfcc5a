using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using OnnxQuant.Passes.Reporting;

namespace OnnxQuant.Cli.Reporting;

/// <summary>
/// Writes a <see cref="QuantizationReport"/> as one self-contained HTML page: no network, no framework, plots as
/// embedded PNG (data: URLs), tables sortable by clicking a column (a few lines of inline script), and every number
/// also as JSON in <c>&lt;script type="application/json" id="onnxquant-report"&gt;</c> for tools and tests.
/// </summary>
public static class HtmlReportWriter
{
    public static string Write(QuantizationReport r)
    {
        var h = new StringBuilder();
        h.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>onnxquant report: ")
            .Append(E(Path.GetFileName(r.QuantModel))).Append("</title>\n<style>\n").Append(Css).Append("</style>\n</head>\n<body>\n");
        h.Append("<h1>Quantization report</h1>\n<p><b>Float:</b> ").Append(E(r.FloatModel)).Append("<br><b>Quantized:</b> ").Append(E(r.QuantModel))
            .Append("<br><b>Data:</b> ").Append(E(r.Evaluation.Data)).Append(" (").Append(r.Evaluation.Samples).Append(" samples)</p>\n");

        // Summary.
        h.Append("<h2 id=\"summary\">Summary</h2>\n<table>\n<tr><th>Output</th><th>SQNR (dB)</th><th>Cosine</th><th>Max |error|</th></tr>\n");
        foreach (var o in r.Evaluation.Outputs)
            h.Append("<tr><td>").Append(E(o.Name)).Append("</td><td>").Append(Db(o.SqnrDb, o.Identical)).Append("</td><td>").Append(N(o.Cosine, "F6"))
                .Append("</td><td>").Append(N(o.MaxAbsError, "G4")).Append("</td></tr>\n");
        h.Append("</table>\n");
        if (r.Evaluation.Accuracy is { } acc) h.Append("<p><b>Task:</b> ").Append(E(JsonSerializer.Serialize(acc))).Append("</p>\n");
        if (r.Latency is { Comparison: { } c } bench)
            h.Append(string.Create(CultureInfo.InvariantCulture,
                $"<p><b>Latency</b> {c.LatencyRatio:F3}× float (median of {bench.Models[1].Runs} interleaved rounds, {bench.Threads} thread(s)); <b>size</b> {c.SizeRatio:F3}× float ({bench.Models[1].TotalBytes:N0} of {bench.Models[0].TotalBytes:N0} bytes).</p>\n"));
        if (r.Provenance.Count > 0)
        {
            h.Append("<h3>How it was made</h3>\n<table>\n");
            foreach (var (key, value) in r.Provenance) h.Append("<tr><td>").Append(E(key)).Append("</td><td>").Append(E(value)).Append("</td></tr>\n");
            h.Append("</table>\n");
        }

        // Per-tensor error through the network.
        h.Append("<h2 id=\"tensors\">Error through the network</h2>\n");
        h.Append(Image(ReportPlots.SqnrThroughNetwork(r.Layers), "SQNR of each tensor through the network"));
        h.Append(string.Create(CultureInfo.InvariantCulture, $"<p>{r.Layers.Count} tensors compared (the numbers of <code>eval --per-tensor</code>)"))
            .Append(r.Evaluation.TensorsSkipped is > 0 ? $"; {r.Evaluation.TensorsSkipped} left out (shape or type differs)" : "").Append(". Click a column to sort.</p>\n");
        h.Append("<table class=\"sortable\" id=\"tensor-table\">\n<thead><tr><th>#</th><th>Tensor</th><th>Op</th><th>SQNR (dB)</th><th>Cosine</th><th>Max |error|</th></tr></thead>\n<tbody>\n");
        foreach (var l in r.Layers)
            h.Append("<tr><td>").Append(l.Position).Append("</td><td>").Append(E(l.Tensor)).Append("</td><td>").Append(E(l.OpType)).Append("</td><td>")
                .Append(Db(l.SqnrDb, l.Identical)).Append("</td><td>").Append(N(l.Cosine, "F6")).Append("</td><td>").Append(N(l.MaxAbsError, "G4")).Append("</td></tr>\n");
        h.Append("</tbody></table>\n");

        // Worst tensors' distributions.
        h.Append("<h2 id=\"worst\">Worst tensors</h2>\n<div class=\"grid\">\n");
        foreach (var w in r.WorstTensors) h.Append(Image(ReportPlots.Distribution(w), $"Distribution of {w.Tensor}"));
        if (r.WorstTensors.Count == 0) h.Append("<p>No tensor differs.</p>\n");
        h.Append("</div>\n");

        // Weights.
        h.Append("<h2 id=\"weights\">Weight error per layer</h2>\n");
        if (r.Weights.Count > 0) h.Append(Image(ReportPlots.WeightErrors(r.Weights), "Weight SQNR per layer"));
        h.Append("<table class=\"sortable\" id=\"weight-table\">\n<thead><tr><th>Node</th><th>Op</th><th>Weight</th><th>Format</th><th>SQNR (dB)</th><th>Max |error|</th><th>Elements</th></tr></thead>\n<tbody>\n");
        foreach (var w in r.Weights)
            h.Append("<tr><td>").Append(E(w.Node)).Append("</td><td>").Append(E(w.OpType)).Append("</td><td>").Append(E(w.Weight)).Append("</td><td>").Append(E(w.Format))
                .Append("</td><td>").Append(Db(w.SqnrDb, false)).Append("</td><td>").Append(N(w.MaxAbsError, "G4")).Append("</td><td>").Append(w.Elements).Append("</td></tr>\n");
        h.Append("</tbody></table>\n");

        // Kernels ORT formed, and what stayed float.
        h.Append("<h2 id=\"kernels\">Integer kernels ONNX Runtime formed</h2>\n<table>\n<tr><th>Kernel</th><th>Count</th></tr>\n");
        foreach (var (op, count) in r.Audit.IntegerKernels.OrderBy(k => k.Key, StringComparer.Ordinal))
            h.Append("<tr><td>").Append(E(op)).Append("</td><td>").Append(count).Append("</td></tr>\n");
        h.Append("</table>\n");
        var unfused = r.Audit.UnfusedOnComputePath;
        h.Append("<p>").Append(unfused.Count).Append(" DequantizeLinear node(s) left unfused in front of a compute op").Append(unfused.Count > 0 ? ":" : ".").Append("</p>\n");
        if (unfused.Count > 0)
        {
            h.Append("<ul>\n");
            foreach (var u in unfused.Take(50)) h.Append("<li>").Append(E(u.ToString())).Append("</li>\n");
            h.Append("</ul>\n");
        }
        h.Append("<h2 id=\"float\">Stayed float</h2>\n<table class=\"sortable\" id=\"float-table\">\n<thead><tr><th>Node</th><th>Op</th><th>Why</th></tr></thead>\n<tbody>\n");
        foreach (var f in r.StayedFloat)
            h.Append("<tr><td>").Append(E(f.Node)).Append("</td><td>").Append(E(f.OpType)).Append("</td><td>").Append(E(f.Reason)).Append("</td></tr>\n");
        h.Append("</tbody></table>\n");

        if (r.AutoPrecision is { } ap)
        {
            h.Append("<h2 id=\"auto-precision\">Auto-precision decisions</h2>\n<p>").Append(E(string.Create(CultureInfo.InvariantCulture,
                $"Target {ap.Target} ({ap.Metric}) on {ap.HeldOutSamples} held-out samples: {ap.StartScore:G4} all-int8 → {ap.FinalScore:G4} (float {ap.FloatScore:G4}); target {(ap.TargetHolds ? "holds" : "not reached")}; {ap.Measurements} measurements; stopped: {ap.Stopped}; estimated latency {ap.EstimatedLatencyRatio:F3}× float.")))
                .Append("</p>\n<table class=\"sortable\" id=\"decision-table\">\n<thead><tr><th>Node</th><th>Choice</th><th>Before</th><th>After</th><th>Local SQNR (dB)</th><th>Cost (ns)</th></tr></thead>\n<tbody>\n");
            foreach (var d in ap.Decisions)
                h.Append("<tr><td>").Append(E(d.Node)).Append("</td><td>").Append(E(d.Choice.ToString())).Append("</td><td>").Append(N(d.ScoreBefore, "G4"))
                    .Append("</td><td>").Append(N(d.ScoreAfter, "G4")).Append("</td><td>").Append(N(d.LocalSqnrDb, "F2")).Append("</td><td>").Append(N(d.CostNs, "G4")).Append("</td></tr>\n");
            h.Append("</tbody></table>\n");
        }

        h.Append("<script type=\"application/json\" id=\"onnxquant-report\">").Append(Json(r).Replace("</", "<\\/", StringComparison.Ordinal)).Append("</script>\n");
        h.Append("<script>\n").Append(SortScript).Append("</script>\n</body>\n</html>\n");
        return h.ToString();
    }

    /// <summary>The report's numbers as JSON (NaN and infinities as strings, as the other JSON outputs write them).</summary>
    public static string Json(QuantizationReport r)
    {
        var options = new JsonSerializerOptions
        {
            WriteIndented = false,
            PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
            NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
        };
        return JsonSerializer.Serialize(new
        {
            r.FloatModel,
            r.QuantModel,
            Samples = r.Evaluation.Samples,
            Outputs = r.Evaluation.Outputs,
            Tensors = r.Layers,
            r.WorstTensors,
            r.Weights,
            IntegerKernels = r.Audit.IntegerKernels,
            UnfusedDequantize = r.Audit.UnfusedOnComputePath.Count,
            r.StayedFloat,
            Provenance = r.Provenance.ToDictionary(kv => kv.Key, kv => kv.Value),
            AutoPrecisionDecisions = r.AutoPrecision?.Decisions.Count,
            LatencyRatio = r.Latency?.Comparison?.LatencyRatio,
            SizeRatio = r.Latency?.Comparison?.SizeRatio,
        }, options);
    }

    private static string Image(byte[] png, string alt) =>
        $"<img alt=\"{E(alt)}\" src=\"data:image/png;base64,{Convert.ToBase64String(png)}\">\n";

    private static string E(string s) => WebUtility.HtmlEncode(s);

    private static string N(double v, string format) => double.IsFinite(v) ? v.ToString(format, CultureInfo.InvariantCulture) : v.ToString(CultureInfo.InvariantCulture);

    private static string Db(double? v, bool identical) => v is double d ? N(d, "F2") : identical ? "∞ (identical)" : "n/a";

    private const string Css = """
        body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 1100px; }
        table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
        th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; }
        th { background: #f0f0f0; }
        table.sortable th { cursor: pointer; }
        td:nth-child(n+4) { font-variant-numeric: tabular-nums; }
        .grid { display: flex; flex-wrap: wrap; gap: 8px; }
        img { max-width: 100%; }
        code { background: #f4f4f4; padding: 0 3px; }

        """;

    // Click a header to sort by that column (numbers numerically, the rest as text); click again to reverse.
    private const string SortScript = """
        document.querySelectorAll('table.sortable').forEach(function (table) {
          table.querySelectorAll('th').forEach(function (th, column) {
            th.addEventListener('click', function () {
              var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
              var ascending = th.getAttribute('data-order') !== 'asc';
              th.setAttribute('data-order', ascending ? 'asc' : 'desc');
              rows.sort(function (a, b) {
                var x = a.cells[column].textContent, y = b.cells[column].textContent;
                var nx = parseFloat(x), ny = parseFloat(y);
                var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
                return ascending ? c : -c;
              });
              rows.forEach(function (row) { body.appendChild(row); });
            });
          });
        });

        """;
}
