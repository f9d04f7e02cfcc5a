using System.Globalization;
using System.Text;
using System.Text.Json;
using OnnxQuant.Ir;

namespace OnnxQuant.Runtime.Calibration.Statistics;

/// <summary>
/// The calibration statistics file (JSON, UTF-8). Numbers are written in their shortest round-trip form, so a
/// reloaded file gives bit-identical statistics; non-finite numbers are the strings "NaN", "Infinity", "-Infinity".
/// <code>
/// {
///   "format": "onnxquant-calibration",
///   "version": 1,                         // files of a newer version are refused
///   "samples": 256,                       // calibration samples
///   "source": "vit_mnist.onnx on calib_256.npy",   // optional, free text
///   "shard": { "index": 2, "count": 4, "samples": 256, "batchSize": 1,   // only in a file of calibrate --shard:
///              "firstBatch": 64, "batches": 64 },                           // shard 2 of 4 of 256 samples
///   "tensors": {                          // keyed by tensor name, sorted
///     "NAME": {
///       "elementType": "float", "shape": [1, 50, 64],  // type and shape of the last batch
///       "batches": 256,
///       "spec": { "movingAverage": false, "averagingConstant": 0.01,
///                 "histogram": "none" | "absolute" | "signed", "histogramResolution": 2048,
///                 "channelAxis": null | AXIS, "channelHistogram": "none", "channelHistogramResolution": 512,
///                 "secondMoment": false, "tokens": true },        // "tokens" only when true
///       "minMax": { "count": N, "nonFinite": 0, "min": X, "max": X, "sumAbs": X, "batches": B,
///                   "sumAbsExact": "M*2^E",   // only when sumAbs is rounded: the exact Σ|x| (see ExactSum)
///                   "movingAverage": { "constant": 0.01, "min": X, "max": X } },   // only with a moving average
///       "histogram": { "absolute": true, "resolution": 2048, "widthExponent": E, "offset": G0,
///                      "total": N, "nonFinite": 0, "min": X, "max": X,
///                      "firstBin": G, "counts": [ ... ] },   // counts of global bins G, G+1, …: bin g is [g·2^E, (g+1)·2^E)
///       "channels": { "axis": A, "minMax": [ {minMax}, … ], "sums": [ Σx per channel ],   // optional parts
///                     "sumsExact": [ "M*2^E", … ],   // only when some sum is rounded: all sums exactly
///                     "histograms": [ {histogram}, … ] },                    // ("sums" absent in older files)
///       "secondMoment": { "k": K, "rows": N, "upper": [ ... ] },  // Σxxᵀ, upper triangle row by row
///       "tokens": { "hidden": H, "absMax": {minMax}, "histogram": {histogram} }   // of each token's max |x|
///     }
///   }
/// }
/// </code>
/// </summary>
public static class StatisticsJson
{
    public const string FormatName = "onnxquant-calibration";
    public const int Version = 1;

    public static void Save(CalibrationStatistics statistics, string path)
    {
        string full = Path.GetFullPath(path);
        string temp = full + ".tmp-" + Environment.ProcessId;
        try
        {
            File.WriteAllText(temp, Write(statistics), new UTF8Encoding(false));
            File.Move(temp, full, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            try { File.Delete(temp); } catch (IOException) { }
            throw new OnnxQuantException($"Cannot write calibration statistics to {path}: {e.Message}", e);
        }
    }

    public static CalibrationStatistics Load(string path)
    {
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new OnnxQuantException($"Cannot read calibration statistics {path}: {e.Message}", e);
        }
        return Read(text, path);
    }

    public static string Write(CalibrationStatistics statistics)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("format", FormatName);
            w.WriteNumber("version", Version);
            w.WriteNumber("samples", statistics.Samples);
            if (statistics.Source is not null) w.WriteString("source", statistics.Source);
            if (statistics.Shard is { } shard)
            {
                w.WriteStartObject("shard");
                w.WriteNumber("index", shard.Index);
                w.WriteNumber("count", shard.Count);
                w.WriteNumber("samples", shard.TotalSamples);
                w.WriteNumber("batchSize", shard.BatchSize);
                w.WriteNumber("firstBatch", shard.FirstBatch);
                w.WriteNumber("batches", shard.Batches);
                w.WriteEndObject();
            }
            w.WriteStartObject("tensors");
            foreach (var (name, t) in statistics.Tensors.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            {
                w.WriteStartObject(name);
                WriteTensor(w, t);
                w.WriteEndObject();
            }
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray()) + "\n";
    }

    public static CalibrationStatistics Read(string json, string source)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(json); }
        catch (JsonException e)
        {
            throw new OnnxQuantException($"{source}: not valid JSON (line {e.LineNumber + 1}): {e.Message}", e);
        }
        using (doc)
        {
            var root = new Reader(doc.RootElement, source, "$");
            string format = root.String("format");
            if (format != FormatName)
                throw new OnnxQuantException($"{source}: \"format\" is \"{format}\", not \"{FormatName}\"; this is not an onnxquant calibration file.");
            long version = root.Long("version");
            if (version > Version || version < 1)
                throw new OnnxQuantException($"{source}: version {version} is not supported (this onnxquant reads version {Version}); calibrate again with this version.");
            var result = new CalibrationStatistics
            {
                Samples = root.Long("samples"),
                Source = root.OptionalString("source"),
                Shard = root.OptionalObject("shard") is { } shard ? ReadShard(shard) : null,
            };
            foreach (var (name, element) in root.Object("tensors").Properties())
                result.Add(ReadTensor(name, element));
            return result;
        }
    }

    private static void WriteTensor(Utf8JsonWriter w, TensorStatistics t)
    {
        w.WriteString("elementType", t.ElementType.OnnxName());
        WriteArray(w, "shape", t.LastShape.Select(d => d.ToString(CultureInfo.InvariantCulture)));
        w.WriteNumber("batches", t.Batches);
        WriteSpec(w, t.Spec);
        w.WriteStartObject("minMax");
        WriteMinMax(w, t.MinMax);
        w.WriteEndObject();
        if (t.Histogram is { } h)
        {
            w.WriteStartObject("histogram");
            WriteHistogram(w, h);
            w.WriteEndObject();
        }
        if (t.Channels is { } c)
        {
            w.WriteStartObject("channels");
            w.WriteNumber("axis", c.Axis);
            w.WriteStartArray("minMax");
            foreach (var m in c.MinMax)
            {
                w.WriteStartObject();
                WriteMinMax(w, m);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            if (c.ExactSums is { } exact)
            {
                WriteArray(w, "sums", c.Sums.Select(FormatDouble));
                // Exact text only where rounding happened, so single-batch files read as before.
                if (exact.Any(x => !x.IsExactlyRepresentable)) WriteArray(w, "sumsExact", exact.Select(x => "\"" + x.ToExactString() + "\""));
            }
            if (c.Histograms is { } hs)
            {
                w.WriteStartArray("histograms");
                foreach (var ch in hs)
                {
                    w.WriteStartObject();
                    WriteHistogram(w, ch);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
            }
            w.WriteEndObject();
        }
        if (t.SecondMoment is { } s)
        {
            w.WriteStartObject("secondMoment");
            w.WriteNumber("k", s.K);
            w.WriteNumber("rows", s.Rows);
            WriteArray(w, "upper", s.Upper.ToArray().Select(FormatDouble));
            w.WriteEndObject();
        }
        if (t.Tokens is { } tokens)
        {
            w.WriteStartObject("tokens");
            w.WriteNumber("hidden", tokens.Hidden);
            w.WriteStartObject("absMax");
            WriteMinMax(w, tokens.AbsMax);
            w.WriteEndObject();
            w.WriteStartObject("histogram");
            WriteHistogram(w, tokens.Histogram);
            w.WriteEndObject();
            w.WriteEndObject();
        }
    }

    private static void WriteSpec(Utf8JsonWriter w, ObserverSpec spec)
    {
        w.WriteStartObject("spec");
        w.WriteBoolean("movingAverage", spec.MovingAverage);
        WriteDouble(w, "averagingConstant", spec.AveragingConstant);
        w.WriteString("histogram", spec.Histogram.ToString().ToLowerInvariant());
        w.WriteNumber("histogramResolution", spec.HistogramResolution);
        if (spec.ChannelAxis is int axis) w.WriteNumber("channelAxis", axis);
        else w.WriteNull("channelAxis");
        w.WriteString("channelHistogram", spec.ChannelHistogram.ToString().ToLowerInvariant());
        w.WriteNumber("channelHistogramResolution", spec.ChannelHistogramResolution);
        w.WriteBoolean("secondMoment", spec.SecondMoment);
        // Written only when set, so files without per-token statistics read the same as before this field existed.
        if (spec.Tokens) w.WriteBoolean("tokens", true);
        w.WriteEndObject();
    }

    private static void WriteMinMax(Utf8JsonWriter w, MinMaxStatistic m)
    {
        w.WriteNumber("count", m.Count);
        w.WriteNumber("nonFinite", m.NonFinite);
        WriteDouble(w, "min", m.Min);
        WriteDouble(w, "max", m.Max);
        WriteDouble(w, "sumAbs", m.SumAbs);
        if (!m.ExactSumAbs.IsExactlyRepresentable) w.WriteString("sumAbsExact", m.ExactSumAbs.ToExactString());
        w.WriteNumber("batches", m.Batches);
        if (m.MovingAverage)
        {
            w.WriteStartObject("movingAverage");
            WriteDouble(w, "constant", m.AveragingConstant);
            WriteDouble(w, "min", m.MovingMin);
            WriteDouble(w, "max", m.MovingMax);
            w.WriteEndObject();
        }
    }

    private static void WriteHistogram(Utf8JsonWriter w, Histogram h)
    {
        w.WriteBoolean("absolute", h.Absolute);
        w.WriteNumber("resolution", h.Resolution);
        w.WriteNumber("widthExponent", h.WidthExponent);
        w.WriteNumber("offset", h.Offset);
        w.WriteNumber("total", h.Total);
        w.WriteNumber("nonFinite", h.NonFinite);
        WriteDouble(w, "min", h.Min);
        WriteDouble(w, "max", h.Max);
        // Only the populated span of bins: most of the grid is empty at the ends.
        var counts = h.Counts;
        int first = 0, last = counts.Length - 1;
        while (first < counts.Length && counts[first] == 0) first++;
        while (last >= first && counts[last] == 0) last--;
        w.WriteNumber("firstBin", h.Offset + Math.Min(first, counts.Length - 1));
        var populated = first <= last ? counts[first..(last + 1)].ToArray() : [];
        WriteArray(w, "counts", populated.Select(c => c.ToString(CultureInfo.InvariantCulture)));
    }

    private static TensorStatistics ReadTensor(string name, Reader t)
    {
        try
        {
            var spec = ReadSpec(t.Object("spec"));
            var typeName = t.String("elementType");
            var elementType = Enum.GetValues<DataType>().FirstOrDefault(d => d.OnnxName() == typeName);
            if (elementType == DataType.Undefined && typeName != DataType.Undefined.OnnxName())
                throw t.Error("elementType", $"unknown element type \"{typeName}\"");
            var shape = t.Array("shape").Select(e => e.AsLong()).ToArray();
            var minMax = ReadMinMax(t.Object("minMax"));
            var histogram = t.OptionalObject("histogram") is { } h ? ReadHistogram(h) : null;
            ChannelStatistics? channels = null;
            if (t.OptionalObject("channels") is { } c)
            {
                var mm = c.Array("minMax").Select(e => ReadMinMax(e)).ToArray();
                var hs = c.OptionalArray("histograms")?.Select(e => ReadHistogram(e)).ToArray();
                var sums = c.OptionalArray("sumsExact")?.Select(e => e.AsExactSum()).ToArray()
                    ?? c.OptionalArray("sums")?.Select(e => e.AsDouble()).Select(ExactOrNaN).ToArray();
                // A file written before the sums were kept has NaN there: the sums are then unknown.
                if (sums is not null && sums.Any(x => x is null)) sums = null;
                channels = c.Wrap(() => ChannelStatistics.Restore((int)c.Long("axis"), mm, sums?.Select(x => x!).ToArray(), hs));
            }
            SecondMomentStatistic? second = null;
            if (t.OptionalObject("secondMoment") is { } s)
            {
                var upper = s.Array("upper").Select(e => e.AsDouble()).ToArray();
                second = s.Wrap(() => SecondMomentStatistic.Restore((int)s.Long("k"), s.Long("rows"), upper));
            }
            TokenStatistics? tokens = null;
            if (t.OptionalObject("tokens") is { } tk)
            {
                var absMax = ReadMinMax(tk.Object("absMax"));
                var tokenHistogram = ReadHistogram(tk.Object("histogram"));
                tokens = tk.Wrap(() => TokenStatistics.Restore((int)tk.Long("hidden"), absMax, tokenHistogram));
            }
            return TensorStatistics.Restore(name, spec, elementType, shape, t.Long("batches"), minMax, histogram, channels, second, tokens);
        }
        catch (ArgumentException e)
        {
            throw t.Error(null, e.Message);
        }
    }

    private static ObserverSpec ReadSpec(Reader s) => new()
    {
        MovingAverage = s.Bool("movingAverage"),
        AveragingConstant = s.Double("averagingConstant"),
        Histogram = s.Kind("histogram"),
        HistogramResolution = (int)s.Long("histogramResolution"),
        ChannelAxis = s.OptionalLong("channelAxis") is long axis ? (int)axis : null,
        ChannelHistogram = s.Kind("channelHistogram"),
        ChannelHistogramResolution = (int)s.Long("channelHistogramResolution"),
        SecondMoment = s.Bool("secondMoment"),
        Tokens = s.OptionalBool("tokens") ?? false,
    };

    private static MinMaxStatistic ReadMinMax(Reader m)
    {
        var moving = m.OptionalObject("movingAverage");
        var sumAbs = m.OptionalExactSum("sumAbsExact") ?? ExactOrNaN(m.Double("sumAbs")) ?? throw m.Error("sumAbs", "is not finite");
        return m.Wrap(() => MinMaxStatistic.Restore(m.Long("count"), m.Long("nonFinite"), m.Double("min"), m.Double("max"),
            sumAbs, moving is not null, moving?.Double("constant") ?? MinMaxStatistic.DefaultAveragingConstant,
            m.Long("batches"), moving?.Double("min") ?? double.NaN, moving?.Double("max") ?? double.NaN));
    }

    private static ExactSum? ExactOrNaN(double value) => double.IsFinite(value) ? ExactSum.Of(value) : null;

    private static CalibrationShard ReadShard(Reader s) => s.Wrap(() => new CalibrationShard(
        (int)s.Long("index"), (int)s.Long("count"), s.Long("samples"), (int)s.Long("batchSize"), s.Long("firstBatch"), s.Long("batches")));

    private static Histogram ReadHistogram(Reader h)
    {
        var counts = h.Array("counts").Select(e => e.AsLong()).ToArray();
        var histogram = h.Wrap(() => Histogram.Restore((int)h.Long("resolution"), h.Bool("absolute"), (int)h.Long("widthExponent"),
            h.Long("offset"), h.Double("min"), h.Double("max"), h.Long("nonFinite"), h.Long("firstBin"), counts));
        if (histogram.Total != h.Long("total"))
            throw h.Error("total", $"is {h.Long("total")} but the counts add up to {histogram.Total}");
        return histogram;
    }

    private static void WriteDouble(Utf8JsonWriter w, string name, double value)
    {
        if (double.IsFinite(value)) w.WriteNumber(name, value);
        else w.WriteString(name, FormatDouble(value).Trim('"'));
    }

    private static string FormatDouble(double value) => double.IsNaN(value) ? "\"NaN\""
        : double.IsPositiveInfinity(value) ? "\"Infinity\""
        : double.IsNegativeInfinity(value) ? "\"-Infinity\""
        : value.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>A number array on one line: indenting one number per line would make histograms unreadable.</summary>
    private static void WriteArray(Utf8JsonWriter w, string name, IEnumerable<string> items)
    {
        w.WritePropertyName(name);
        w.WriteRawValue("[" + string.Join(", ", items) + "]", skipInputValidation: true);
    }

    /// <summary>Typed access to a JSON object that names the file and JSON path in every error.</summary>
    private readonly struct Reader(JsonElement element, string source, string path)
    {
        public JsonElement Element => element;

        public OnnxQuantException Error(string? property, string message) =>
            new($"{source}: {(property is null ? path : $"{path}.{property}")}: {message}. The file may be damaged or from another tool; calibrate again.");

        public T Wrap<T>(Func<T> restore)
        {
            try { return restore(); }
            catch (FormatException e) { throw Error(null, e.Message); }
            catch (ArgumentException e) { throw Error(null, e.Message); }
        }

        private JsonElement Get(string property)
        {
            if (element.ValueKind != JsonValueKind.Object) throw Error(null, "expected an object");
            return element.TryGetProperty(property, out var v) ? v : throw Error(property, "missing");
        }

        private JsonElement? GetOptional(string property) =>
            element.ValueKind == JsonValueKind.Object && element.TryGetProperty(property, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

        public string String(string property)
        {
            var v = Get(property);
            return v.ValueKind == JsonValueKind.String ? v.GetString()! : throw Error(property, "expected a string");
        }

        public string? OptionalString(string property) => GetOptional(property) is { } v
            ? v.ValueKind == JsonValueKind.String ? v.GetString() : throw Error(property, "expected a string")
            : null;

        public long Long(string property) => new Reader(Get(property), source, $"{path}.{property}").AsLong();

        public long? OptionalLong(string property) => GetOptional(property) is { } v ? new Reader(v, source, $"{path}.{property}").AsLong() : null;

        public double Double(string property) => new Reader(Get(property), source, $"{path}.{property}").AsDouble();

        public bool Bool(string property)
        {
            var v = Get(property);
            return v.ValueKind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                _ => throw Error(property, "expected true or false"),
            };
        }

        public bool? OptionalBool(string property) => GetOptional(property) is not null ? Bool(property) : null;

        public HistogramKind Kind(string property) => String(property) switch
        {
            "none" => HistogramKind.None,
            "absolute" => HistogramKind.Absolute,
            "signed" => HistogramKind.Signed,
            var other => throw Error(property, $"\"{other}\" is not one of none, absolute, signed"),
        };

        public Reader Object(string property)
        {
            var v = Get(property);
            return v.ValueKind == JsonValueKind.Object ? new Reader(v, source, $"{path}.{property}") : throw Error(property, "expected an object");
        }

        public Reader? OptionalObject(string property) => GetOptional(property) is { } v
            ? v.ValueKind == JsonValueKind.Object ? new Reader(v, source, $"{path}.{property}") : throw Error(property, "expected an object")
            : null;

        public IEnumerable<Reader> Array(string property)
        {
            var v = Get(property);
            if (v.ValueKind != JsonValueKind.Array) throw Error(property, "expected an array");
            return Items(v, source, $"{path}.{property}");
        }

        public IEnumerable<Reader>? OptionalArray(string property) => GetOptional(property) is not null ? Array(property) : null;

        public IEnumerable<(string Name, Reader Value)> Properties()
        {
            var list = new List<(string, Reader)>();
            foreach (var p in element.EnumerateObject())
                list.Add((p.Name, new Reader(p.Value, source, $"{path}[{JsonSerializer.Serialize(p.Name)}]")));
            return list;
        }

        public ExactSum? OptionalExactSum(string property) =>
            GetOptional(property) is not null ? new Reader(Get(property), source, $"{path}.{property}").AsExactSum() : null;

        public ExactSum AsExactSum()
        {
            if (element.ValueKind != JsonValueKind.String) throw Error(null, "expected an exact sum \"M*2^E\"");
            try { return ExactSum.Parse(element.GetString()!); }
            catch (FormatException e) { throw Error(null, e.Message); }
        }

        public long AsLong() => element.ValueKind == JsonValueKind.Number && element.TryGetInt64(out long l) ? l : throw Error(null, "expected an integer");

        public double AsDouble() => element.ValueKind switch
        {
            JsonValueKind.Number => element.GetDouble(),
            JsonValueKind.String => element.GetString() switch
            {
                "NaN" => double.NaN,
                "Infinity" => double.PositiveInfinity,
                "-Infinity" => double.NegativeInfinity,
                _ => throw Error(null, "expected a number"),
            },
            _ => throw Error(null, "expected a number"),
        };

        private static IEnumerable<Reader> Items(JsonElement array, string source, string path)
        {
            var list = new List<Reader>();
            int i = 0;
            foreach (var item in array.EnumerateArray()) list.Add(new Reader(item, source, $"{path}[{i++}]"));
            return list;
        }
    }
}
