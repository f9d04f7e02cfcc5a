using System.Text.Json;
using OnnxQuant.Cli;
using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Runtime.Evaluation;
using OnnxQuant.Tests.Cli;

namespace OnnxQuant.Tests.Evaluation;

/// <summary>
/// <c>onnxquant eval --task compare</c> on stories260k (token ids in, logits [b, seq, 512] out) over the first
/// sequences of lm/stories_tokens_64x64.npy: next-token agreement and KL against the float model.
/// </summary>
public sealed class LanguageModelEvalTests : IDisposable
{
    /// <summary>4 sequences of 64 tokens: 256 positions, a fraction of a second per model.</summary>
    private const string Count = "4";

    private static readonly string Stories = SharedPaths.Model("stories260k.onnx");
    private static readonly string Tokens = Path.Combine(SharedPaths.Data, "lm", "stories_tokens_64x64.npy");

    private readonly ScratchFolder _folder = new("eval-lm");

    public void Dispose() => _folder.Dispose();

    private static CliResult Eval(string quant, params string[] extra) =>
        Onnxquant.Run(["eval", Stories, quant, "--data", Tokens, "--count", Count, "--optimization", "none", .. extra]);

    private static JsonElement NextToken(CliResult result)
    {
        using var json = JsonDocument.Parse(result.Stdout);
        return json.RootElement.GetProperty("nextToken").Clone();
    }

    [Fact]
    public void FloatAgainstItself_AgreesEverywhere_WithZeroKl()
    {
        var result = Eval(Stories, "--json");
        Assert.True(result.ExitCode == ExitCodes.Success, result.ToString());
        var n = NextToken(result);
        Assert.Equal("logits", n.GetProperty("output").GetString());
        Assert.Equal(512, n.GetProperty("vocab").GetInt32());
        Assert.Equal(4 * 64, n.GetProperty("positions").GetInt64());
        Assert.Equal(4 * 64, n.GetProperty("agreements").GetInt64());
        Assert.Equal(100.0, n.GetProperty("agreementRate").GetDouble());
        Assert.Equal(0.0, n.GetProperty("meanKl").GetDouble());
        Assert.Equal(0.0, n.GetProperty("maxKl").GetDouble());
    }

    [Fact]
    public void PerturbedModel_AgreesLess_WithPositiveKl_AndFailsTheGates()
    {
        string quant = Perturbed(_folder.File("perturbed.onnx"));

        var result = Eval(quant, "--json", "--min-agreement", "100", "--max-kl", "0");

        Assert.True(result.ExitCode == ExitCodes.GateFailed, result.ToString());
        var n = NextToken(result);
        Assert.InRange(n.GetProperty("agreementRate").GetDouble(), 0, 99.9);
        Assert.True(n.GetProperty("agreements").GetInt64() < n.GetProperty("positions").GetInt64());
        Assert.True(n.GetProperty("meanKl").GetDouble() > 0);
        Assert.True(n.GetProperty("maxKl").GetDouble() >= n.GetProperty("meanKl").GetDouble());
        using var json = JsonDocument.Parse(result.Stdout);
        var gates = json.RootElement.GetProperty("gates").EnumerateArray().ToList();
        Assert.Equal(["min-agreement", "max-kl"], gates.Select(g => g.GetProperty("gate").GetString()));
        Assert.All(gates, g => Assert.False(g.GetProperty("passed").GetBoolean()));
    }

    [Fact]
    public void Table_ShowsAgreementAndKl_AndGatesThatPass()
    {
        var result = Eval(Stories, "--min-agreement", "99.5", "--max-kl", "0.001");
        Assert.True(result.ExitCode == ExitCodes.Success, result.ToString());
        Assert.Contains("100.00% (256/256 positions)", result.Stdout);
        Assert.Contains("mean KL(float||quant)", result.Stdout);
        Assert.Contains("gate min-agreement: passed", result.Stdout);
        Assert.Contains("gate max-kl: passed", result.Stdout);
    }

    [Fact]
    public void ModelWithFloatInputs_HasNoNextTokenReport_AndItsGatesAreUserErrors()
    {
        var (f, q, data, _) = EvalTestModels.Classify(_folder);
        var plain = Onnxquant.Run("eval", f, q, "--data", data, "--json");
        Assert.True(plain.ExitCode == ExitCodes.Success, plain.ToString());
        using (var json = JsonDocument.Parse(plain.Stdout))
            Assert.Equal(JsonValueKind.Null, json.RootElement.GetProperty("nextToken").ValueKind);

        var gated = Onnxquant.Run("eval", f, q, "--data", data, "--min-agreement", "90");
        Assert.True(gated.ExitCode == ExitCodes.UserError, gated.ToString());
        Assert.Contains("token ids", gated.Stderr);
    }

    [Fact]
    public void NegativeMaxKl_IsAUserError()
    {
        var result = Eval(Stories, "--max-kl", "-1");
        Assert.True(result.ExitCode == ExitCodes.UserError, result.ToString());
        Assert.Contains("--max-kl", result.Stderr);
    }

    /// <summary>
    /// stories260k with every 2-D MatMul weight rounded to 15 levels per tensor (symmetric 4-bit, per tensor): a
    /// coarse fake quantization that moves the logits but keeps the model a language model.
    /// </summary>
    private static string Perturbed(string path)
    {
        using var model = OnnxReader.Read(Stories);
        foreach (var c in model.Graph.Constants.ToList())
        {
            var t = c.Const!;
            // MatMul weights only: the model also holds 2-D tables such as its causal mask of −∞.
            if (t.ElementType != DataType.Float || t.Rank != 2 || !c.Uses.Any(u => u.Node.OpType == "MatMul")) continue;
            float[] w = t.AsSpan<float>().ToArray();
            float step = w.Max(MathF.Abs) / 7;
            if (step == 0) continue;
            for (int i = 0; i < w.Length; i++) w[i] = MathF.Round(w[i] / step) * step;
            var replacement = model.Graph.AddConstant(Tensor.FromFloats(w, [.. t.Dims]));
            c.ReplaceAllUsesWith(replacement);
        }
        OnnxWriter.Write(model, path);
        return path;
    }
}
