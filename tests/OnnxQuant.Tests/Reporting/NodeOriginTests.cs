using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Passes.Reporting;
using OnnxQuant.Tests.Cli;

namespace OnnxQuant.Tests.Reporting;

/// <summary>
/// Node provenance (<see cref="NodeOrigin"/>): a node that replaces a float layer under another name records which
/// float node it stands for, the record survives a second replacement (fuse-custom-ops), the report pairs layers by
/// it rather than by a naming convention, and nodes that keep their name get no record (their files are unchanged).
/// </summary>
public sealed class NodeOriginTests : IDisposable
{
    private readonly ScratchFolder _dir = new("node-origin");
    private static readonly string Stories = SharedPaths.Model("stories260k.onnx");

    public void Dispose() => _dir.Dispose();

    private static void Ok(CliResult r) => Assert.True(r.ExitCode == 0, r.ToString());

    [Fact]
    public void Inherit_PointsAtTheFirstSource_AndCarryOverNeedsARecord()
    {
        var a = new Node("MatMul", [], name: "float_layer");
        var b = new Node("MatMulNBits", [], domain: "com.microsoft", name: "float_layer_MatMulNBits");
        var c = new Node("MatMulW4A8", [], domain: "com.onnxquant", name: "float_layer_MatMulNBits");
        NodeOrigin.Inherit(b, a);
        Assert.Equal("float_layer", NodeOrigin.Recorded(b));
        NodeOrigin.CarryOver(c, b);
        Assert.Equal("float_layer", NodeOrigin.SourceName(c));

        // Keeping the name needs no record; a node without a record passes none on.
        var kept = new Node("MatMul", [], name: "float_layer");
        NodeOrigin.Inherit(kept, a);
        Assert.Null(NodeOrigin.Recorded(kept));
        var fresh = new Node("Gemm", [], name: "other");
        NodeOrigin.CarryOver(fresh, a);
        Assert.Empty(fresh.Metadata);
    }

    [Fact]
    public void WeightOnlyAndFusedNodes_RecordTheirFloatLayer_AndTheReportPairsByTheRecordNotTheName()
    {
        string w4 = _dir.File("stories.w4a16.onnx"), fused = _dir.File("stories.fused.onnx"), renamed = _dir.File("stories.renamed.onnx");
        Ok(Onnxquant.Run(Stories, w4, "--recipe", "w4a16"));
        string recipe = _dir.File("fuse.yaml");
        File.WriteAllText(recipe, "name: fuse-only\npasses:\n  - fuse-custom-ops\n");
        Ok(Onnxquant.Run(w4, fused, "--recipe", recipe));

        using var source = OnnxReader.Read(Stories);
        var floatMatMuls = source.Graph.Nodes.Where(n => n.OpType == "MatMul" && n.Name is not null).ToDictionary(n => n.Name!);

        using (var q = OnnxReader.Read(w4))
        {
            var nbits = q.Graph.Nodes.Where(n => n.OpType == "MatMulNBits").ToList();
            Assert.True(nbits.Count >= 10, $"{nbits.Count} MatMulNBits");
            Assert.All(nbits, n => Assert.True(NodeOrigin.Recorded(n) is { } o && floatMatMuls.ContainsKey(o), $"{n} records {NodeOrigin.Recorded(n) ?? "nothing"}"));
        }

        // Rename every custom-op node: pairing must not depend on how the tool names its nodes.
        int fusedCount;
        using (var f = OnnxReader.Read(fused))
        {
            var custom = f.Graph.Nodes.Where(n => n.OpType == "MatMulW4A8").ToList();
            fusedCount = custom.Count;
            Assert.True(fusedCount >= 10, $"{fusedCount} MatMulW4A8");
            for (int i = 0; i < custom.Count; i++) custom[i].Name = $"layer{i}";
            OnnxWriter.Write(f, renamed);
        }
        var errors = QuantizationReportBuilder.WeightErrors(source, renamed);
        Assert.Equal(fusedCount, errors.Count(e => e.OpType == "MatMulW4A8"));
        var before = QuantizationReportBuilder.WeightErrors(source, w4).Where(e => e.OpType == "MatMulNBits" && e.Format.StartsWith("int4", StringComparison.Ordinal)).Select(e => e.SqnrDb).Order().ToList();
        // The same packed weights, so the same errors as the MatMulNBits they were fused from.
        Assert.Equal(before, errors.Where(e => e.OpType == "MatMulW4A8").Select(e => e.SqnrDb).Order().ToList());
    }

    [Fact]
    public void DynamicLayers_RecordTheirFloatLayer_AndTheirInt8WeightErrorIsDecoded()
    {
        string dynamic = _dir.File("vit.dynamic.onnx");
        string vit = SharedPaths.Model("vit_mnist.onnx");
        Ok(Onnxquant.Run(vit, dynamic, "--recipe", "w8a8-dynamic"));
        using var source = OnnxReader.Read(vit);
        var errors = QuantizationReportBuilder.WeightErrors(source, dynamic).Where(e => e.OpType == "MatMulInteger").ToList();
        using var q = OnnxReader.Read(dynamic);
        int layers = q.Graph.Nodes.Count(n => n.OpType == "MatMulInteger");
        Assert.True(layers >= 10, $"{layers} MatMulInteger");
        Assert.Equal(layers, errors.Count);
        // int8 symmetric per channel: far above int4's ~20 dB, below a lossless copy.
        Assert.All(errors, e => Assert.InRange(e.SqnrDb!.Value, 35, 60));
    }

    [Fact]
    public void NodesThatKeepTheirName_CarryNoRecord()
    {
        string w8 = _dir.File("vit.w8a8.onnx");
        Ok(Onnxquant.Run(SharedPaths.Model("vit_mnist.onnx"), w8, "--recipe", "w8a8", "--data",
            Path.Combine(SharedPaths.Data, "mnist", "calib_256.npy"), "--count", "8"));
        using var q = OnnxReader.Read(w8);
        Assert.DoesNotContain(q.Graph.Nodes, n => n.Metadata.Any(e => e.Key == NodeOrigin.Key));
    }
}
