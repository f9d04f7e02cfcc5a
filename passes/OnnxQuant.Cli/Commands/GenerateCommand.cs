using System.CommandLine;
using OnnxQuant.Ir;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.DemoModels;

namespace OnnxQuant.Cli.Commands;

/// <summary>
/// <c>onnxquant generate vit-tiny|vit-b16|llama OUT [--seed S] [--outlier-channels N] [--width W --layers L --heads H
/// --kv-heads K --ffn F --vocab V --tie-embeddings --float16 --kv-cache --attention-mask --attention standard|gqa|mha]</c>: writes a demo model built by our own code with seeded weights. For structure and
/// speed measurements only; accuracy is always measured on real models. The shape options are llama's; a model of
/// more than 2 GB of weights is written with external data (ONNX's protobuf limit).
/// </summary>
public static class GenerateCommand
{
    private static readonly Dictionary<string, VitConfig> Vits = new(StringComparer.Ordinal)
    {
        ["vit-tiny"] = VitConfig.Tiny,
        ["vit-b16"] = VitConfig.B16,
    };

    private const string Llama = "llama";

    public static Command Create()
    {
        string[] names = [.. Vits.Keys, Llama];
        var kind = new Argument<string>("MODEL") { Description = "Which model: " + string.Join(", ", names) + "." };
        kind.AcceptOnlyFromAmong(names);
        var output = new Argument<string>("OUT") { Description = "Where to write the model." };
        var seed = new Option<int>("--seed") { Description = "Seed of the random weights.", DefaultValueFactory = _ => 0 };
        var d = LlamaConfig.Default;
        Option<int?> Shape(string name, string what, int fallback) =>
            new(name) { HelpName = "N", Description = $"llama: {what} (default {fallback})." };
        var width = Shape("--width", "hidden width", d.Width);
        var layers = Shape("--layers", "decoder layers", d.Layers);
        var heads = Shape("--heads", "query heads; must divide the width", d.Heads);
        var kvHeads = Shape("--kv-heads", "key/value heads, each shared by heads / kv-heads query heads; must divide the heads", d.KvHeads);
        var ffn = Shape("--ffn", "SwiGLU hidden width", d.Ffn);
        var vocab = Shape("--vocab", "vocabulary size", d.Vocab);
        var tie = new Option<bool>("--tie-embeddings") { Description = "llama: the LM head reuses the embedding table (Gemm, transB = 1) instead of its own weight." };
        var float16 = new Option<bool>("--float16") { Description = "llama: float16 weights, activations and logits (the float32 model's weights rounded), as exported for ONNX Runtime GenAI." };
        var kvCache = new Option<bool>("--kv-cache") { Description = "llama: past_key_values.N.key/value inputs and present.N.key/value outputs, for decoding one token at a time with a KV cache." };
        var attentionMask = new Option<bool>("--attention-mask") { Description = "llama: an attention_mask [batch, past + sequence] input (int64, 0 = padding key), as ONNX Runtime GenAI's exports have." };
        var attention = new Option<string>("--attention")
        {
            HelpName = "FORM",
            Description = "llama: standard (default-domain ops), gqa (com.microsoft GroupQueryAttention; implies --attention-mask) or mha (com.microsoft MultiHeadAttention).",
            DefaultValueFactory = _ => "standard",
        };
        attention.AcceptOnlyFromAmong("standard", "gqa", "mha");
        Option[] llamaOptions = [width, layers, heads, kvHeads, ffn, vocab, tie, float16, kvCache, attentionMask, attention];
        var outlierChannels = new Option<int>("--outlier-channels")
        {
            HelpName = "N",
            Description = "vit-tiny/vit-b16: give N channels of every LayerNorm output a 10-50x larger scale (the next layer compensates, the float function is unchanged): the outliers real ViTs have, which per-tensor activation quantization cannot represent (default 0).",
        };
        var command = new Command("generate", "Write a demo model built by OnnxQuant (seeded weights; for speed and structure, not accuracy).")
        {
            kind,
            output,
            seed,
        };
        foreach (var option in llamaOptions) command.Options.Add(option);
        command.Options.Add(outlierChannels);
        command.SetAction(parse =>
        {
            string name = parse.GetRequiredValue(kind);
            string path = parse.GetRequiredValue(output);
            if (Directory.Exists(path))
                throw new OnnxQuantException($"generate: the output {path} is a folder. Give a file name, e.g. {Path.Combine(path, name + ".onnx")}.");
            Model model;
            if (name == Llama)
            {
                var config = new LlamaConfig(
                    parse.GetValue(width) ?? d.Width, parse.GetValue(layers) ?? d.Layers, parse.GetValue(heads) ?? d.Heads,
                    parse.GetValue(kvHeads) ?? d.KvHeads, parse.GetValue(ffn) ?? d.Ffn, parse.GetValue(vocab) ?? d.Vocab)
                                {
                    TiedEmbeddings = parse.GetValue(tie), Float16 = parse.GetValue(float16), KvCache = parse.GetValue(kvCache),
                    AttentionMask = parse.GetValue(attentionMask),
                    Attention = parse.GetValue(attention) switch { "gqa" => LlamaAttention.GroupQuery, "mha" => LlamaAttention.MultiHead, _ => LlamaAttention.Standard },
                };
                if (parse.GetResult(outlierChannels) is { Implicit: false })
                    throw new OnnxQuantException("generate llama: --outlier-channels shapes the ViTs' LayerNorm outputs only; drop it, or generate vit-tiny or vit-b16.");
                model = LlamaGenerator.Generate(config, parse.GetValue(seed));
            }
            else
            {
                var given = llamaOptions.Where(o => parse.GetResult(o) is { Implicit: false }).Select(o => o.Name).ToList();
                if (given.Count > 0)
                    throw new OnnxQuantException($"generate {name}: {string.Join(", ", given)} only shape(s) the llama model; {name} has a fixed shape. Drop them, or generate llama.");
                int outliers = parse.GetValue(outlierChannels);
                if (outliers < 0 || outliers > Vits[name].Width)
                    throw new OnnxQuantException($"generate {name}: --outlier-channels {outliers} is outside 0..{Vits[name].Width} (the width). Give e.g. --outlier-channels 4.");
                model = VitGenerator.Generate(Vits[name] with { OutlierChannels = outliers }, parse.GetValue(seed));
            }
            using (model)
            {
                // Above ONNX's 2 GB protobuf limit the writer switches to external data by itself (OUT.data beside OUT).
                OnnxWriter.Write(model, path);
                long parameters = model.Graph.Constants.Sum(c => c.Const!.ElementCount);
                string external = OnnxWriter.TotalTensorBytes(model) > OnnxWriteOptions.Default.AutoExternalLimit
                    ? $" + {new FileInfo(path + ".data").Length:N0} bytes of external data in {path}.data" : "";
                parse.InvocationConfiguration.Output.WriteLine(
                    $"Wrote {path}: {name}, {parameters:N0} parameters, {new FileInfo(path).Length:N0} bytes{external}.");
            }
            return ExitCodes.Success;
        });
        return command;
    }
}
