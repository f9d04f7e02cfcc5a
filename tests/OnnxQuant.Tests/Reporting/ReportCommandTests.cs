using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using OnnxQuant.Tests.Cli;

namespace OnnxQuant.Tests.Reporting;

/// <summary>
/// <c>onnxquant report</c>: one self-contained, well-formed HTML page whose images decode, whose per-tensor numbers are
/// <c>eval --per-tensor</c>'s, whose weight errors are right for a known format, and which Chromium renders.
/// </summary>
public sealed class ReportCommandTests : IClassFixture<ReportCommandTests.Reports>
{
    private readonly Reports _reports;

    public ReportCommandTests(Reports reports) => _reports = reports;

    /// <summary>Quantizes vit_mnist (w8a8) and stories260k (w4a16) once and reports on both.</summary>
    public sealed class Reports : IDisposable
    {
        public ScratchFolder Dir { get; } = new("report-tests");
        public string Vit { get; } = SharedPaths.Model("vit_mnist.onnx");
        public string Eval { get; } = Path.Combine(SharedPaths.Data, "mnist", "eval_5000.npy");
        public string VitQuant => Dir.File("vit.w8a8.onnx");
        public string VitHtml => Dir.File("vit.html");
        public string Stories { get; } = SharedPaths.Model("stories260k.onnx");
        public string StoriesQuant => Dir.File("stories.w4a16.onnx");
        public string StoriesHtml => Dir.File("stories.html");
        public CliResult VitRun { get; }

        public Reports()
        {
            Ok(Onnxquant.Run(Vit, VitQuant, "--recipe", "w8a8", "--data", Path.Combine(SharedPaths.Data, "mnist", "calib_256.npy"), "--count", "16"));
            VitRun = Onnxquant.Run("report", Vit, VitQuant, "--data", Eval, "--count", "8", "--bench-runs", "3", "--out", VitHtml);
            Ok(VitRun);
            Ok(Onnxquant.Run(Stories, StoriesQuant, "--recipe", "w4a16"));
            Ok(Onnxquant.Run("report", Stories, StoriesQuant, "--data", Path.Combine(SharedPaths.Data, "lm", "stories_tokens_64x64.npy"),
                "--skip", "32", "--count", "2", "--bench-runs", "0", "--out", StoriesHtml));
        }

        private static void Ok(CliResult r) => Assert.True(r.ExitCode == 0, r.ToString());

        public void Dispose() => Dir.Dispose();
    }

    private static JsonElement Data(string html) =>
        JsonDocument.Parse(Regex.Match(html, "<script type=\"application/json\" id=\"onnxquant-report\">(.*?)</script>", RegexOptions.Singleline).Groups[1].Value.Replace("<\\/", "</")).RootElement;

    [Fact]
    public void ThePage_IsWellFormed_SelfContained_AndEveryImageDecodes()
    {
        string html = File.ReadAllText(_reports.VitHtml);
        // Well-formed: the page parses as XML once the doctype and the void <img>/<br>/<meta> tags are closed.
        string xml = Regex.Replace(html.Replace("<!DOCTYPE html>", ""), "<(img|br|meta)([^>]*?)>", "<$1$2/>");
        xml = Regex.Replace(xml, "<script>.*?</script>", "", RegexOptions.Singleline);
        var document = XDocument.Parse(xml);
        Assert.Equal("html", document.Root!.Name.LocalName);
        // No network: nothing is fetched from elsewhere.
        Assert.DoesNotMatch("(src|href)=\"(https?:)?//", html);
        var images = Regex.Matches(html, "src=\"data:image/png;base64,([^\"]+)\"").Select(m => Convert.FromBase64String(m.Groups[1].Value)).ToList();
        Assert.True(images.Count >= 3, $"{images.Count} images");
        foreach (var png in images)
        {
            using var bitmap = SkiaSharp.SKBitmap.Decode(png);
            Assert.NotNull(bitmap);
            Assert.True(bitmap.Width > 100 && bitmap.Height > 100);
        }
        foreach (string section in new[] { "summary", "tensors", "worst", "weights", "kernels", "float" })
            Assert.Contains($"id=\"{section}\"", html);
        Assert.Contains("onnxquant.recipe", html); // how the model was made
        Assert.Contains("Latency", html);
    }

    [Fact]
    public void PerTensorNumbers_AreEvalPerTensors()
    {
        var eval = Onnxquant.Run("eval", _reports.Vit, _reports.VitQuant, "--data", _reports.Eval, "--count", "8", "--per-tensor", "--json");
        Assert.True(eval.ExitCode == 0, eval.ToString());
        var evalTensors = JsonDocument.Parse(eval.Stdout).RootElement.GetProperty("tensors").EnumerateArray()
            .ToDictionary(t => t.GetProperty("name").GetString()!, t => t);
        var reportTensors = Data(File.ReadAllText(_reports.VitHtml)).GetProperty("tensors").EnumerateArray().ToList();
        Assert.Equal(evalTensors.Count, reportTensors.Count);
        foreach (var t in reportTensors)
        {
            var e = evalTensors[t.GetProperty("tensor").GetString()!];
            Assert.Equal(e.GetProperty("sqnrDb").ToString(), t.GetProperty("sqnrDb").ToString());
            Assert.Equal(e.GetProperty("cosine").GetDouble(), t.GetProperty("cosine").GetDouble());
            Assert.Equal(e.GetProperty("maxAbsError").GetDouble(), t.GetProperty("maxAbsError").GetDouble());
        }
        // In network order: positions count up.
        Assert.Equal(Enumerable.Range(0, reportTensors.Count), reportTensors.Select(t => t.GetProperty("position").GetInt32()));
    }

    [Fact]
    public void WeightErrors_MatchTheFormat_Int8PerChannelAndInt4Blocks()
    {
        var vit = Data(File.ReadAllText(_reports.VitHtml)).GetProperty("weights").EnumerateArray().Where(w => w.GetProperty("opType").GetString() == "MatMul").ToList();
        Assert.True(vit.Count >= 20, $"{vit.Count} MatMul weights");
        // int8 per channel: ~6 dB per bit, so well above 35 dB; int4 g32: around 20 dB, well below int8.
        Assert.All(vit, w => Assert.InRange(w.GetProperty("sqnrDb").GetDouble(), 35, 60));
        var stories = Data(File.ReadAllText(_reports.StoriesHtml)).GetProperty("weights").EnumerateArray().ToList();
        Assert.True(stories.Count >= 30, $"{stories.Count} weights");
        Assert.All(stories, w => Assert.Contains("MatMulNBits", w.GetProperty("format").GetString()));
        Assert.All(stories, w => Assert.InRange(w.GetProperty("sqnrDb").GetDouble(), 14, 28));
        // The attention products (activation × activation) stayed float, with the reason.
        var floatLayers = Data(File.ReadAllText(_reports.StoriesHtml)).GetProperty("stayedFloat").EnumerateArray().ToList();
        Assert.NotEmpty(floatLayers);
        Assert.All(floatLayers, f => Assert.False(string.IsNullOrWhiteSpace(f.GetProperty("reason").GetString())));
    }

    [Fact]
    public void TheOutputIsCheckedFirst_AndMissingDataIsAUsageError()
    {
        var r = Onnxquant.Run("report", _reports.Vit, _reports.VitQuant, "--data", _reports.Eval, "--out", _reports.Vit);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("same file as the input", r.Stderr);
        var missing = Onnxquant.Run("report", _reports.Vit, _reports.VitQuant, "--out", _reports.Dir.File("x.html"));
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("--data", missing.Stderr);
    }

    /// <summary>Renders the page in headless Chromium (Debian's <c>chromium</c>); skipped with the reason when it is absent.</summary>
    [ChromiumFact]
    public void ChromiumRendersThePage()
    {
        string chromium = ChromiumFactAttribute.Chromium!;
        string png = _reports.Dir.File("screenshot.png");
        var start = new ProcessStartInfo(chromium) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (string a in new[] { "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1200,2400", $"--screenshot={png}", "file://" + _reports.VitHtml })
            start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        Assert.True(process.WaitForExit(120_000), "Chromium did not finish in 2 minutes");
        Assert.True(File.Exists(png), process.StandardError.ReadToEnd());
        using var shot = SkiaSharp.SKBitmap.Decode(png);
        Assert.Equal(1200, shot.Width);
        // Something was drawn: the page is not one flat colour.
        var colours = new HashSet<uint>();
        for (int y = 0; y < shot.Height; y += 13)
            for (int x = 0; x < shot.Width; x += 7) colours.Add((uint)shot.GetPixel(x, y));
        Assert.True(colours.Count > 20, $"{colours.Count} colours");
    }
}

/// <summary>A fact that is skipped, saying why, where no Chromium is installed.</summary>
public sealed class ChromiumFactAttribute : FactAttribute
{
    public static string? Chromium { get; } = new[] { "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome" }.FirstOrDefault(File.Exists);

    public ChromiumFactAttribute()
    {
        if (Chromium is null) Skip = "Chromium is not installed (Debian: apt-get install chromium); the page's rendering check needs it.";
    }
}
