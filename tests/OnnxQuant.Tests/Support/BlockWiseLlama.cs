using OnnxQuant.DemoModels;
using OnnxQuant.Ir;
using OnnxQuant.Passes.Calibration;
using OnnxQuant.Runtime.Calibration;
using OnnxQuant.Runtime.DataSources;

namespace OnnxQuant.Tests.Support;

/// <summary>
/// The small generated Llama and seeded token batches the block-wise tests (awq, smooth-quant) compare their
/// block-by-block runs against the whole-model run on: three blocks, so a pass must hand statistics across blocks.
/// </summary>
internal static class BlockWiseLlama
{
    public static readonly LlamaConfig Config = new(Width: 64, Layers: 3, Heads: 4, KvHeads: 2, Ffn: 128, Vocab: 128);

    /// <summary><paramref name="count"/> batches of 16 token ids, sample i seeded with i + 1.</summary>
    public static CalibrationSettings Tokens(int count) => new()
    {
        Samples = new CalibrationSamples(Enumerable.Range(0, count).Select(i =>
        {
            var random = new Random(i + 1);
            return (IReadOnlyDictionary<string, Tensor>)new Dictionary<string, Tensor>
            {
                ["input_ids"] = Tensor.FromInt64s(Enumerable.Range(0, 16).Select(_ => (long)random.Next(Config.Vocab)).ToArray(), 1, 16),
            };
        }).ToList()),
    };
}
