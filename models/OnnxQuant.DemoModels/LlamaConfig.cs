using OnnxQuant.Ir;

namespace OnnxQuant.DemoModels;

/// <summary>
/// Shape of a generated Llama-architecture language model (<see cref="LlamaGenerator"/>): <see cref="Heads"/> query
/// heads share <see cref="KvHeads"/> key/value heads (grouped-query attention), each of <see cref="HeadDim"/> =
/// <see cref="Width"/> / <see cref="Heads"/> channels.
/// </summary>
public sealed record LlamaConfig(int Width, int Layers, int Heads, int KvHeads, int Ffn, int Vocab)
{
    /// <summary>
    /// `onnxquant generate llama`'s defaults: width 2048, 4 layers, 16 heads, 4 KV heads, FFN 5632, vocab 32000
    /// (≈ 0.31B parameters, ≈ 1.25 GB fp32): the projections have the shapes of a 1B-class Llama, so one-token
    /// latency is bound by reading the weights as it is in real decoders.
    /// </summary>
    public static LlamaConfig Default { get; } = new(2048, 4, 16, 4, 5632, 32000);

    /// <summary>Base of the rotary embedding's frequencies (Llama's θ).</summary>
    public double RopeTheta { get; init; } = 10000;

    /// <summary>ε of every RMS normalization.</summary>
    public float NormEpsilon { get; init; } = 1e-5f;

    /// <summary>The LM head reuses the embedding table (Gemm with transB = 1) instead of its own [width, vocab] MatMul weight.</summary>
    public bool TiedEmbeddings { get; init; }

    /// <summary>Weights, activations and logits are float16 (the float32 model's weights rounded), as exported for ONNX Runtime GenAI.</summary>
    public bool Float16 { get; init; }

    /// <summary>The model takes past_key_values.N.key/value inputs and returns present.N.key/value outputs (decoding with a KV cache).</summary>
    public bool KvCache { get; init; }

    /// <summary>
    /// The model takes an attention_mask [batch, past + sequence] input (1 = a token to attend to, 0 = padding), as
    /// ONNX Runtime GenAI's exports do; always on with <see cref="LlamaAttention.GroupQuery"/>, whose sequence lengths
    /// come from it.
    /// </summary>
    public bool AttentionMask { get; init; }

    /// <summary>How attention is written: standard ONNX ops, or one com.microsoft contrib op per layer.</summary>
    public LlamaAttention Attention { get; init; } = LlamaAttention.Standard;

    /// <summary>Whether the graph has the attention_mask input (asked for, or implied by GroupQueryAttention).</summary>
    public bool HasAttentionMask => AttentionMask || Attention == LlamaAttention.GroupQuery;

    public int HeadDim => Width / Heads;

    /// <summary>Query heads per key/value head.</summary>
    public int Group => Heads / KvHeads;

    public int KvWidth => KvHeads * HeadDim;

    /// <summary>Parameters (every weight, including the RMS norms' scales), counted from the definition.</summary>
    public long Parameters
    {
        get
        {
            long w = Width, f = Ffn, v = Vocab;
            long block = 2 * w + w * w + 2 * w * KvWidth + w * w + 3 * w * f;
            return v * w + Layers * block + w + (TiedEmbeddings ? 0 : w * v);
        }
    }

    /// <summary>Throws a user error naming the option to fix when the shape cannot make a Llama.</summary>
    public void Validate()
    {
        void Positive(string option, int value)
        {
            if (value < 1) throw new OnnxQuantException($"generate llama: {option} must be at least 1 (got {value}).");
        }
        Positive("--width", Width);
        Positive("--layers", Layers);
        Positive("--heads", Heads);
        Positive("--kv-heads", KvHeads);
        Positive("--ffn", Ffn);
        Positive("--vocab", Vocab);
        if (Width % Heads != 0)
            throw new OnnxQuantException($"generate llama: --heads {Heads} does not divide --width {Width}; every head has width / heads channels. Pick a width that is a multiple of the heads (e.g. --width {Heads * Math.Max(2, Width / Heads)}).");
        if (HeadDim % 2 != 0)
            throw new OnnxQuantException($"generate llama: the head size --width / --heads = {Width}/{Heads} = {HeadDim} is odd; the rotary embedding rotates pairs of channels, so it must be even.");
        if (Heads % KvHeads != 0)
            throw new OnnxQuantException($"generate llama: --kv-heads {KvHeads} does not divide --heads {Heads}; each key/value head is shared by heads / kv-heads query heads. Use a divisor of {Heads}.");
    }
}

/// <summary>The attention forms `generate llama --attention` writes (ONNX Runtime GenAI exports use the contrib ops).</summary>
public enum LlamaAttention
{
    /// <summary>MatMul, Softmax and MatMul with the mask added to the scores: default-domain ONNX only.</summary>
    Standard,

    /// <summary>com.microsoft GroupQueryAttention: grouped KV heads and the cache concatenation inside the op.</summary>
    GroupQuery,

    /// <summary>com.microsoft MultiHeadAttention on key/value heads repeated to the query heads, the mask as its attention_bias.</summary>
    MultiHead,
}
