using System.Text.Json;
using OnnxQuant.Cli;
using OnnxQuant.Tests.Cli;

namespace OnnxQuant.Tests.Evaluation;

/// <summary>
/// <c>onnxquant eval</c> in-process on the tiny classify case (float top-1 5/6 = 83.33%, quantized 3/6 = 50%, drop
/// 33.33 points; see <see cref="EvalTestModels.Rows"/>).
/// </summary>
public sealed class EvalCommandTests : IDisposable
{
    private readonly ScratchFolder _folder = new("eval-cli");
    private readonly (string Float, string Quant, string Data, string Labels) _m;

    public EvalCommandTests() => _m = EvalTestModels.Classify(_folder);

    public void Dispose() => _folder.Dispose();

    private CliResult Eval(params string[] extra) =>
        Onnxquant.Run(["eval", _m.Float, _m.Quant, "--data", _m.Data, "--labels", _m.Labels, "--task", "classify", "--optimization", "none", .. extra]);

    [Theory]
    [InlineData("--min-top1", "50", ExitCodes.Success)]
    [InlineData("--min-top1", "50.1", ExitCodes.GateFailed)]
    [InlineData("--max-drop", "34", ExitCodes.Success)]
    [InlineData("--max-drop", "33", ExitCodes.GateFailed)]
    public void Gates_SetTheExitCode(string gate, string value, int expected)
    {
        var result = Eval(gate, value);
        Assert.True(result.ExitCode == expected, result.ToString());
        Assert.Contains(expected == ExitCodes.Success ? "passed" : "FAILED", result.Stdout);
    }

    [Fact]
    public void BothGates_FailWhenEitherFails()
    {
        var result = Eval("--min-top1", "10", "--max-drop", "1");
        Assert.True(result.ExitCode == ExitCodes.GateFailed, result.ToString());
    }

    [Fact]
    public void GateExitCode_IsThree()
    {
        Assert.Equal(3, ExitCodes.GateFailed);
    }

    [Fact]
    public void AGate_WithTaskCompare_IsAUserError()
    {
        var result = Onnxquant.Run("eval", _m.Float, _m.Quant, "--data", _m.Data, "--max-drop", "1");
        Assert.True(result.ExitCode == ExitCodes.UserError, result.ToString());
        Assert.Contains("--task classify", result.Stderr);
    }

    [Fact]
    public void UnknownTask_IsAUsageError()
    {
        var result = Onnxquant.Run("eval", _m.Float, _m.Quant, "--data", _m.Data, "--task", "detect");
        Assert.Equal(ExitCodes.Usage, result.ExitCode);
    }

    [Fact]
    public void CtcWithoutKeys_IsAUserError()
    {
        var result = Onnxquant.Run("eval", _m.Float, _m.Quant, "--data", _m.Data, "--task", "ctc");
        Assert.True(result.ExitCode == ExitCodes.UserError, result.ToString());
        Assert.Contains("--keys", result.Stderr);
    }

    [Fact]
    public void Json_HasTheDocumentedFields()
    {
        var result = Eval("--json", "--min-top1", "60");
        Assert.True(result.ExitCode == ExitCodes.GateFailed, result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        var root = json.RootElement;
        Assert.Equal(1, root.GetProperty("schemaVersion").GetInt32());
        Assert.Equal("classify", root.GetProperty("task").GetString());
        Assert.Equal(_m.Float, root.GetProperty("floatModel").GetString());
        Assert.Equal(_m.Quant, root.GetProperty("quantModel").GetString());
        Assert.Equal(_m.Data, root.GetProperty("data").GetString());
        Assert.Equal(6, root.GetProperty("samples").GetInt32());
        Assert.Equal("none", root.GetProperty("optimization").GetString());

        var output = Assert.Single(root.GetProperty("outputs").EnumerateArray());
        Assert.Equal("logits", output.GetProperty("name").GetString());
        Assert.Equal(JsonValueKind.Number, output.GetProperty("sqnrDb").ValueKind);
        Assert.False(output.GetProperty("identical").GetBoolean());
        Assert.Equal(2.5, output.GetProperty("maxAbsError").GetDouble(), 6);
        Assert.Equal(24, output.GetProperty("elements").GetInt64());
        Assert.True(output.GetProperty("cosine").GetDouble() is > 0 and < 1);

        var a = root.GetProperty("accuracy");
        Assert.Equal("top1", a.GetProperty("metric").GetString());
        Assert.Equal(5, a.GetProperty("floatCorrect").GetInt32());
        Assert.Equal(3, a.GetProperty("quantCorrect").GetInt32());
        Assert.Equal(50, a.GetProperty("quantRate").GetDouble(), 9);
        Assert.Equal(4, a.GetProperty("agreements").GetInt32());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("tensors").ValueKind);

        var gate = Assert.Single(root.GetProperty("gates").EnumerateArray());
        Assert.Equal("min-top1", gate.GetProperty("gate").GetString());
        Assert.Equal(60, gate.GetProperty("threshold").GetDouble());
        Assert.False(gate.GetProperty("passed").GetBoolean());
        Assert.False(root.GetProperty("passed").GetBoolean());
    }

    [Fact]
    public void Json_WritesIdenticalOutputs_WithANullSqnr()
    {
        var result = Onnxquant.Run("eval", _m.Float, _m.Float, "--data", _m.Data, "--json");
        Assert.True(result.ExitCode == ExitCodes.Success, result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        var output = Assert.Single(json.RootElement.GetProperty("outputs").EnumerateArray());
        Assert.Equal(JsonValueKind.Null, output.GetProperty("sqnrDb").ValueKind);
        Assert.True(output.GetProperty("identical").GetBoolean());
        Assert.Equal(0, output.GetProperty("maxAbsError").GetDouble());
    }

    [Fact]
    public void Table_ShowsBothRates_AndTheAgreement()
    {
        var result = Eval();
        Assert.True(result.ExitCode == ExitCodes.Success, result.ToString());
        Assert.Contains("83.33% (5/6)", result.Stdout);
        Assert.Contains("50.00% (3/6)", result.Stdout);
        Assert.Contains("66.67% (4/6)", result.Stdout);
        Assert.Contains("logits", result.Stdout);
    }
}
