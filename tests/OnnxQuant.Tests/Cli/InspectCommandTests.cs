using System.Text.Json;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Onnx.Proto;

namespace OnnxQuant.Tests.Cli;

public class InspectCommandTests
{
    private static readonly string Ppocr = SharedPaths.Model("ppocr_v4_rec.onnx");

    [Theory]
    [InlineData("ppocr_v4_rec.onnx")]       // every weight a Constant node
    [InlineData("silero_vad_legacy.onnx")]  // nodes inside If subgraphs
    public void JsonOpHistogram_MatchesCountsFromTheRawProtobuf(string file)
    {
        string path = SharedPaths.Model(file);
        var result = Onnxquant.Run("inspect", path, "--json");
        Assert.True(result.ExitCode == 0, result.ToString());

        var expected = ProtoCounts.OpHistogram(OnnxReader.ReadProto(path));
        using var json = JsonDocument.Parse(result.Stdout);
        var actual = json.RootElement.GetProperty("ops").EnumerateArray().ToDictionary(
            o => (o.GetProperty("domain").GetString()!, o.GetProperty("opType").GetString()!),
            o => new[] { o.GetProperty("mainGraph").GetInt32(), o.GetProperty("subgraphs").GetInt32(), o.GetProperty("functions").GetInt32() });
        Assert.Equal(
            expected.OrderBy(kv => kv.Key).Select(kv => $"{kv.Key}: {string.Join("/", kv.Value)}"),
            actual.OrderBy(kv => kv.Key).Select(kv => $"{kv.Key}: {string.Join("/", kv.Value)}"));
        foreach (var op in json.RootElement.GetProperty("ops").EnumerateArray())
            Assert.Equal(op.GetProperty("mainGraph").GetInt32() + op.GetProperty("subgraphs").GetInt32() + op.GetProperty("functions").GetInt32(),
                op.GetProperty("total").GetInt32());

        var nodes = json.RootElement.GetProperty("nodes");
        Assert.Equal(expected.Values.Sum(c => c[0]), nodes.GetProperty("mainGraph").GetInt32());
        Assert.Equal(expected.Values.Sum(c => c[1]), nodes.GetProperty("subgraphs").GetInt32());
        Assert.Equal(expected.Values.Sum(c => c.Sum()), nodes.GetProperty("total").GetInt32());
    }

    [Fact]
    public void JsonHeaderInputsAndParameters_MatchTheRawProtobuf()
    {
        var result = Onnxquant.Run("inspect", Ppocr, "--json");
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal("", result.Stderr);
        var proto = OnnxReader.ReadProto(Ppocr);
        using var json = JsonDocument.Parse(result.Stdout);
        var root = json.RootElement;

        Assert.Equal(1, root.GetProperty("schemaVersion").GetInt32());
        Assert.Equal(proto.IrVersion, root.GetProperty("irVersion").GetInt64());
        Assert.Equal(new FileInfo(Ppocr).Length, root.GetProperty("fileBytes").GetInt64());
        Assert.Equal(
            proto.OpsetImport.Select(o => $"{o.Domain}:{o.Version}"),
            root.GetProperty("opsets").EnumerateArray().Select(o => $"{o.GetProperty("domain").GetString()}:{o.GetProperty("version").GetInt64()}"));

        // Inputs and outputs with their shapes; symbolic dimensions appear by name.
        var initializers = proto.Graph.Initializer.Select(t => t.Name).ToHashSet();
        Assert.Equal(
            proto.Graph.Input.Where(i => !initializers.Contains(i.Name)).Select(ProtoCounts.DescribeValue),
            root.GetProperty("inputs").EnumerateArray().Select(DescribeJsonValue));
        Assert.Equal(proto.Graph.Output.Select(ProtoCounts.DescribeValue), root.GetProperty("outputs").EnumerateArray().Select(DescribeJsonValue));
        Assert.Contains(proto.Graph.Input[0].Type.TensorType.Shape.Dim, d => d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimParam);

        // All of this model's weights are Constant nodes.
        var (tensors, elements) = ProtoCounts.Parameters(proto);
        var parameters = root.GetProperty("parameters");
        Assert.Equal(tensors, parameters.GetProperty("tensors").GetInt32());
        Assert.Equal(elements, parameters.GetProperty("elements").GetInt64());
        Assert.Equal(tensors, parameters.GetProperty("constantNodes").GetInt32());
        Assert.Equal(elements, parameters.GetProperty("byElementType").EnumerateArray().Sum(e => e.GetProperty("elements").GetInt64()));
        Assert.Equal(parameters.GetProperty("bytes").GetInt64(), parameters.GetProperty("byElementType").EnumerateArray().Sum(e => e.GetProperty("bytes").GetInt64()));

        Assert.Empty(root.GetProperty("externalData").EnumerateArray());
        Assert.Equal("passed", root.GetProperty("verifier").GetProperty("status").GetString());
    }

    [Fact]
    public void Tables_ShowEverySection_AsPlainTextWhenNotATerminal()
    {
        var result = Onnxquant.Run("inspect", Ppocr);
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal("", result.Stderr);
        var proto = OnnxReader.ReadProto(Ppocr);
        foreach (string section in new[] { "IR version", "Opsets", "Inputs", "Outputs", "Op types", "Parameters (constants)", "External data", "Verifier" })
            Assert.Contains(section, result.Stdout);
        Assert.Contains(proto.Graph.Input[0].Type.TensorType.Shape.Dim[0].DimParam, result.Stdout);
        Assert.Contains(proto.Graph.Output[0].Name, result.Stdout);
        Assert.DoesNotContain('\u001b', result.Stdout);
    }

    [Fact]
    public void JsonListsExternalDataFiles_WithTheirSizes()
    {
        using var dir = new ScratchFolder();
        string model = dir.File("m.onnx");
        Assert.Equal(0, Onnxquant.Run("convert", SharedPaths.Model("vit_mnist.onnx"), model, "--external-data").ExitCode);

        var result = Onnxquant.Run("inspect", model, "--json");
        Assert.True(result.ExitCode == 0, result.ToString());
        var external = OnnxReader.ReadProto(model).Graph.Initializer
            .Where(t => t.DataLocation == TensorProto.Types.DataLocation.External).ToList();
        Assert.NotEmpty(external);

        using var json = JsonDocument.Parse(result.Stdout);
        var entry = Assert.Single(json.RootElement.GetProperty("externalData").EnumerateArray());
        Assert.Equal("m.onnx.data", entry.GetProperty("file").GetString());
        Assert.Equal(new FileInfo(dir.File("m.onnx.data")).Length, entry.GetProperty("fileBytes").GetInt64());
        Assert.Equal(external.Count, entry.GetProperty("tensors").GetInt32());
        Assert.Equal(external.Sum(t => long.Parse(t.ExternalData.Single(e => e.Key == "length").Value)), entry.GetProperty("bytes").GetInt64());

        var tables = Onnxquant.Run("inspect", model);
        Assert.Contains("m.onnx.data", tables.Stdout);
    }

    private static string DescribeJsonValue(JsonElement v) =>
        v.GetProperty("name").GetString() + ":" + v.GetProperty("elementType").GetString() + "[" +
        string.Join(",", v.GetProperty("shape").EnumerateArray().Select(d => d.ValueKind switch
        {
            JsonValueKind.Number => d.GetInt64().ToString(),
            JsonValueKind.String => d.GetString(),
            _ => "?",
        })) + "]";
}
