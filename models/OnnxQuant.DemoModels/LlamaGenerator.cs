using OnnxQuant.Ir;
using OnnxQuant.Passes.Canonicalization.OpsetUpgrade;

namespace OnnxQuant.DemoModels;

/// <summary>
/// Builds a Llama-architecture decoder (Touvron et al. 2023) without KV cache, as one graph over a whole sequence:
/// <code>
/// x = Gather(embed, input_ids)
/// per layer: x += Wo · attn(rope(Wq · n), rope(Wk · n), Wv · n) with n = RMSNorm(x), causal, grouped KV heads
///            x += Wdown · (SiLU(Wgate · n) ⊙ Wup · n) with n = RMSNorm(x)
/// logits = Whead · RMSNorm(x)
/// </code>
/// RMS norm is ONNX's RMSNormalization (opset 23, which ONNX Runtime's CPU provider runs). The rotary embedding is
/// Hugging Face's "rotate half" form: channel i of a head is paired with channel i + d/2 and rotated by
/// position · θ^(−2i/d); cos and sin are computed in the graph from Range(0, seq), so any sequence length runs. The
/// causal mask is Trilu(−1e9, upper, k = 1), added to the scores: finite, so a row of it never makes NaN. Query head
/// h uses key/value head h / (heads / kv-heads), written as a 5-D MatMul broadcast over the group axis rather than
/// a copy of K and V. Every projection is a MatMul with a constant 2-D [in, out] weight and the embedding a Gather
/// on [vocab, width], the forms the quantization passes recognise; the head is a MatMul with its own weight unless
/// <see cref="LlamaConfig.TiedEmbeddings"/> (then Gemm(transB = 1) on the embedding table).
/// <para>
/// With <see cref="LlamaConfig.Float16"/> (as models are exported for ONNX Runtime GenAI in float16) every weight is
/// the float32 weight rounded to float16 and every activation, the logits included, is float16; only the rotary angles
/// and the causal mask are built in float32 and cast, so the network is the float32 one up to float16 rounding.
/// </para>
/// <para>
/// With <see cref="LlamaConfig.KvCache"/> the model has the inputs and outputs ONNX Runtime GenAI's decoder loop
/// feeds: past_key_values.N.key/value [batch, kv-heads, past_sequence, head] in, present.N.key/value (past and new
/// tokens concatenated, keys after rotation) out; the new tokens take positions past .. past + sequence − 1 and the
/// mask lets each see the whole past.
/// </para>
/// <para>
/// With <see cref="LlamaConfig.AttentionMask"/> an attention_mask [batch, past + sequence] input (int64, 1 = attend)
/// adds the mask value to the scores of every key whose entry is 0 (padding on the right of shorter rows; the rotary
/// positions stay past .. past + sequence − 1). <see cref="LlamaConfig.Attention"/> picks the attention form:
/// standard ops, com.microsoft GroupQueryAttention (new-token q/k/v as [batch, sequence, heads·head], the cache
/// inside the op, seqlens_k and total_sequence_length computed from attention_mask as GenAI's builder does; the
/// rotary embedding stays outside, do_rotary = 0), or com.microsoft MultiHeadAttention (KV heads repeated to the
/// query heads, the mask as attention_bias). The three compute the same function with the same cache layout (tests
/// compare them in ONNX Runtime).
/// </para>
/// <para>
/// Weights are seeded N(0, 1/in) per projection (the embedding N(0, 1/width)), so every projection keeps unit
/// variance and the logits are finite and spread (not one token everywhere); norm scales are N(1, 0.05). Like the
/// ViT, these models are for speed and structure only, never for accuracy figures. Weights are made lazily
/// (<see cref="SeededWeights"/>): a model written with external data (automatic above 2 GB) is generated straight into
/// the file one tensor at a time in small memory (the 2.7B shape in passes/OnnxQuant.Cli/docs/streaming.md); one
/// written inline (the default shape, ≈ 1.25 GB) is made in memory as the protobuf needs it.
/// </para>
/// </summary>
public static class LlamaGenerator
{
    public const int Opset = 23;

    /// <summary>ONNX Runtime's contrib-op domain (GroupQueryAttention, MultiHeadAttention).</summary>
    public const string ContribDomain = "com.microsoft";

    /// <summary>Added to the scores above the diagonal: exp underflows to exactly 0 for any score a unit-variance model makes.</summary>
    public const float MaskValue = -1e9f;

    /// <summary>The mask of a <see cref="LlamaConfig.Float16"/> model: −1e9 is −∞ in float16; −1e4 is finite and its exp still 0.</summary>
    public const float MaskValueFloat16 = -1e4f;

    public static Model Generate(LlamaConfig c, int seed)
    {
        c.Validate();
        // Made lazily and, when written with external data, streamed into the file one tensor at a time (SeededWeights).
        var w = new SeededWeights(seed) { ElementType = c.Float16 ? DataType.Float16 : DataType.Float };
        var g = new Graph { Name = "llama" };
        var b = new GraphOps(g) { Float16 = c.Float16 };
        int d = c.HeadDim;
        var ids = g.AddInput("input_ids", new TensorType(DataType.Int64, new Shape([Dim.Symbolic("batch"), Dim.Symbolic("sequence")])));
        // ONNX Runtime GenAI's input order: input_ids, attention_mask, then the cache.
        Value? attentionMask = c.HasAttentionMask
            ? g.AddInput("attention_mask", new TensorType(DataType.Int64, new Shape([Dim.Symbolic("batch"), Dim.Symbolic("total_sequence")])))
            : null;

        // N(0, 1/width): the RMS norms rescale it anyway, and a tied head then gives unit-variance logits too.
        var embed = b.Weight(w.Normal(0, 1 / Math.Sqrt(c.Width), c.Vocab, c.Width), "model.embed_tokens.weight");
        var x = b.Op("Gather", [embed, ids], Attribute.Int("axis", 0));

        // Rotary angles [seq, d/2] = positions ⊗ θ^(−2i/d), and the causal mask [seq, seq], from the sequence length.
        var seq = b.Op("Gather", [b.Op("Shape", [ids]), b.Scalar(1)], Attribute.Int("axis", 0));
        // With a KV cache the new tokens sit at positions past .. past + seq − 1, past read from the first cache input.
        var pastKeys = new Value[c.KvCache ? c.Layers : 0];
        var pastValues = new Value[pastKeys.Length];
        var cacheShape = new Shape([Dim.Symbolic("batch"), c.KvHeads, Dim.Symbolic("past_sequence"), d]);
        for (int l = 0; l < pastKeys.Length; l++)
        {
            pastKeys[l] = g.AddInput($"past_key_values.{l}.key", new TensorType(b.FloatType, cacheShape));
            pastValues[l] = g.AddInput($"past_key_values.{l}.value", new TensorType(b.FloatType, cacheShape));
        }
        var past = c.KvCache ? b.Op("Gather", [b.Op("Shape", [pastKeys[0]]), b.Scalar(2)], Attribute.Int("axis", 0)) : null;
        var positions = b.Op("Cast", [past is null
            ? b.Op("Range", [b.Scalar(0), seq, b.Scalar(1)])
            : b.Op("Range", [past, b.Op("Add", [past, seq]), b.Scalar(1)])], Attribute.Int("to", (long)DataType.Float));
        var inverseFrequencies = new float[d / 2];
        for (int i = 0; i < d / 2; i++) inverseFrequencies[i] = (float)Math.Pow(c.RopeTheta, -2.0 * i / d);
        var angles = b.Op("Mul", [b.Op("Unsqueeze", [positions, b.Ints(1)]), b.Const(Tensor.FromFloats(inverseFrequencies, d / 2), "rope.inv_freq")]);
        // Angles, cos/sin and the mask are made in float32 (exact positions; ORT's CPU runs Cos/Sin/Trilu in float32)
        // and cast to the activations' type once.
        var cos = b.Activation(b.Op("Cos", [angles]));
        var sin = b.Activation(b.Op("Sin", [angles]));
        var mask = c.Attention == LlamaAttention.GroupQuery ? null : AdditiveMask(b, c, seq, past, attentionMask);
        // GroupQueryAttention reads lengths instead of a mask (causal inside the op): seqlens_k = (tokens attended per
        // row) − 1 and total_sequence_length = past + seq, both int32, as ONNX Runtime GenAI's builder computes them.
        Value? seqlensK = null, totalLength = null;
        if (c.Attention == LlamaAttention.GroupQuery)
        {
            var int32 = Attribute.Int("to", (long)DataType.Int32);
            seqlensK = b.Op("Cast", [b.Op("Sub", [b.Op("ReduceSum", [attentionMask!, b.Ints(1)], Attribute.Int("keepdims", 0)), b.Scalar(1)])], int32);
            totalLength = b.Op("Cast", [b.Op("Gather", [b.Op("Shape", [attentionMask!]), b.Scalar(1)], Attribute.Int("axis", 0))], int32);
        }
        var presents = new List<Value>();
        var scale = c.Attention == LlamaAttention.Standard ? b.Weight(Tensor.Scalar((float)(1 / Math.Sqrt(d)))) : null;

        for (int l = 0; l < c.Layers; l++)
        {
            string p = $"model.layers.{l}.";
            var n = RmsNorm(b, w, x, c, p + "input_layernorm");
            var q = Heads(b, Linear(b, w, n, c.Width, c.Width, p + "self_attn.q_proj"), c.Heads, d);
            var k = Heads(b, Linear(b, w, n, c.Width, c.KvWidth, p + "self_attn.k_proj"), c.KvHeads, d);
            var vRows = Linear(b, w, n, c.Width, c.KvWidth, p + "self_attn.v_proj");
            // GroupQueryAttention reads v as [b, s, K·d]; the others as heads (made here, in the standard form's order).
            var v = c.Attention == LlamaAttention.GroupQuery ? null : Heads(b, vRows, c.KvHeads, d);
            q = Rotate(b, q, cos, sin, d);
            k = Rotate(b, k, cos, sin, d);
            var context = c.Attention switch
            {
                LlamaAttention.GroupQuery => GroupQueryAttention(b, c, l, q, k, vRows,
                    c.KvCache ? pastKeys[l] : null, c.KvCache ? pastValues[l] : null, seqlensK!, totalLength!, presents),
                LlamaAttention.MultiHead => MultiHeadAttention(b, c, l, q, k, v!,
                    c.KvCache ? pastKeys[l] : null, c.KvCache ? pastValues[l] : null, mask!, presents),
                _ => StandardAttention(b, c, l, q, k, v!,
                    c.KvCache ? pastKeys[l] : null, c.KvCache ? pastValues[l] : null, mask!, scale!, presents),
            };
            x = b.Op("Add", [x, Linear(b, w, context, c.Width, c.Width, p + "self_attn.o_proj")]);

            n = RmsNorm(b, w, x, c, p + "post_attention_layernorm");
            var gate = Linear(b, w, n, c.Width, c.Ffn, p + "mlp.gate_proj");
            var up = Linear(b, w, n, c.Width, c.Ffn, p + "mlp.up_proj");
            var swiglu = b.Op("Mul", [b.Op("Mul", [gate, b.Op("Sigmoid", [gate])]), up]);
            x = b.Op("Add", [x, Linear(b, w, swiglu, c.Ffn, c.Width, p + "mlp.down_proj")]);
        }
        x = RmsNorm(b, w, x, c, "model.norm");
        var logits = c.TiedEmbeddings ? TiedHead(b, x, embed, c) : Linear(b, w, x, c.Width, c.Vocab, "lm_head");
        logits.Name = "logits";
        logits.Type = new TensorType(b.FloatType, new Shape([Dim.Symbolic("batch"), Dim.Symbolic("sequence"), c.Vocab]));
        g.Outputs.Add(logits);
        foreach (var present in presents) g.Outputs.Add(present);

        // Opset 23 came with IR version 11; an older IR version with it is an invalid model for the ONNX checker.
        var model = new Model(g) { IrVersion = OpsetHistory.MinimumIrVersion(Opset), ProducerName = "onnxquant generate", ProducerVersion = "0.1.0" };
        model.OpsetImports.Add(new OpsetImport("", Opset));
        if (c.Attention != LlamaAttention.Standard) model.OpsetImports.Add(new OpsetImport(ContribDomain, 1));
        return model;
    }

    /// <summary>
    /// The additive mask, made in float32 and cast once: [seq, past + seq] (query i, at position past + i, sees keys
    /// 0 .. past + i, so Trilu's diagonal is past + 1); with attention_mask [batch, 1, seq, past + seq], the mask value
    /// added again on every key position whose attention_mask is 0.
    /// </summary>
    private static Value AdditiveMask(GraphOps b, LlamaConfig c, Value seq, Value? past, Value? attentionMask)
    {
        float maskValue = c.Float16 ? MaskValueFloat16 : MaskValue;
        var seq1 = b.Op("Unsqueeze", [seq, b.Ints(0)]);
        var total1 = past is null ? seq1 : b.Op("Unsqueeze", [b.Op("Add", [past, seq]), b.Ints(0)]);
        var filled = b.Op("ConstantOfShape", [b.Op("Concat", [seq1, total1], Attribute.Int("axis", 0))],
            Attribute.FromTensor("value", Tensor.FromFloats([maskValue], 1)));
        var diagonal = past is null ? b.Scalar(1) : b.Op("Add", [past, b.Scalar(1)]);
        var mask = b.Op("Trilu", [filled, diagonal], Attribute.Int("upper", 1));
        if (attentionMask is not null)
        {
            var padding = b.Op("Mul", [
                b.Op("Sub", [b.Const(Tensor.Scalar(1f)), b.Op("Cast", [attentionMask], Attribute.Int("to", (long)DataType.Float))]),
                b.Const(Tensor.Scalar(maskValue))]);
            mask = b.Op("Add", [mask, b.Op("Unsqueeze", [padding, b.Ints(1, 2)])]);
        }
        return b.Activation(mask);
    }

    /// <summary>Standard ops: scores = q·kᵀ·scale + mask, softmax, ·v, with the KV heads broadcast over the group axis.</summary>
    private static Value StandardAttention(GraphOps b, LlamaConfig c, int l, Value q, Value k, Value v, Value? pastKey, Value? pastValue,
        Value mask, Value scale, List<Value> presents)
    {
        int d = c.HeadDim;
        if (pastKey is not null)
        {
            // present = Concat(past, new) along the sequence: the rotated keys and the values of every token so far.
            k = Present(b, b.Op("Concat", [pastKey, k], Attribute.Int("axis", 2)), $"present.{l}.key", c, presents);
            v = Present(b, b.Op("Concat", [pastValue!, v], Attribute.Int("axis", 2)), $"present.{l}.value", c, presents);
        }
        // A [batch, 1, seq, total] mask gets the group axis: [batch, 1, 1, seq, total].
        if (c.HasAttentionMask) mask = b.Op("Unsqueeze", [mask, b.Ints(1)]);
        // [b, H, s, d] → [b, K, H/K, s, d] against [b, K, 1, s, d]: head h meets KV head h / (H/K).
        var q5 = b.Op("Reshape", [q, b.Ints(0, c.KvHeads, c.Group, -1, d)]);
        var kT = b.Op("Transpose", [b.Op("Unsqueeze", [k, b.Ints(2)])], Attribute.Ints("perm", 0, 1, 2, 4, 3));
        var v5 = b.Op("Unsqueeze", [v, b.Ints(2)]);
        var scores = b.Op("Add", [b.Op("Mul", [b.Op("MatMul", [q5, kT]), scale]), mask]);
        var probabilities = b.Op("Softmax", [scores], Attribute.Int("axis", -1));
        var context = b.Op("Reshape", [b.Op("MatMul", [probabilities, v5]), b.Ints(0, c.Heads, -1, d)]);
        return b.Op("Reshape", [b.Op("Transpose", [context], Attribute.Ints("perm", 0, 2, 1, 3)), b.Ints(0, 0, c.Width)]);
    }

    /// <summary>
    /// com.microsoft GroupQueryAttention (ONNX Runtime contrib op): query [b, s, H·d], key/value [b, s, K·d] of the new
    /// tokens (rotated outside: do_rotary = 0), past/present [b, K, past, d] (BNSH, not shared with the present), causal
    /// inside the op, lengths from seqlens_k and total_sequence_length.
    /// </summary>
    private static Value GroupQueryAttention(GraphOps b, LlamaConfig c, int l, Value q, Value k, Value vRows, Value? pastKey, Value? pastValue,
        Value seqlensK, Value totalLength, List<Value> presents)
    {
        var node = b.Graph.Append(new Node("GroupQueryAttention",
            [Rows(b, q, c.Width), Rows(b, k, c.KvWidth), vRows, pastKey, pastValue, seqlensK, totalLength], 3, domain: ContribDomain,
            attributes: [Attribute.Int("num_heads", c.Heads), Attribute.Int("kv_num_heads", c.KvHeads)],
            name: b.Graph.FreshName("GroupQueryAttention")));
        if (pastKey is not null)
        {
            Present(b, node.Outputs[1]!, $"present.{l}.key", c, presents);
            Present(b, node.Outputs[2]!, $"present.{l}.value", c, presents);
        }
        return node.Outputs[0]!;
    }

    /// <summary>
    /// com.microsoft MultiHeadAttention (ONNX Runtime contrib op) on query [b, s, H·d] and key/value [b, H, total, d]
    /// (BNSH): the cache is concatenated outside in the standard [b, K, total, d] layout and the K heads repeated to H
    /// (the op has no grouped heads); the causal and padding mask is its attention_bias.
    /// </summary>
    private static Value MultiHeadAttention(GraphOps b, LlamaConfig c, int l, Value q, Value k, Value v, Value? pastKey, Value? pastValue,
        Value mask, List<Value> presents)
    {
        if (pastKey is not null)
        {
            k = Present(b, b.Op("Concat", [pastKey, k], Attribute.Int("axis", 2)), $"present.{l}.key", c, presents);
            v = Present(b, b.Op("Concat", [pastValue!, v], Attribute.Int("axis", 2)), $"present.{l}.value", c, presents);
        }
        // A [seq, total] mask becomes [1, 1, seq, total]: attention_bias is 4-D.
        if (!c.HasAttentionMask) mask = b.Op("Unsqueeze", [mask, b.Ints(0, 1)]);
        var node = b.Graph.Append(new Node("MultiHeadAttention",
            [Rows(b, q, c.Width), RepeatHeads(b, k, c), RepeatHeads(b, v, c), null, null, mask], 1, domain: ContribDomain,
            attributes: [Attribute.Int("num_heads", c.Heads)], name: b.Graph.FreshName("MultiHeadAttention")));
        return node.Outputs[0]!;
    }

    /// <summary>[b, K, t, d] → [b, H, t, d], KV head j repeated for query heads j·G … j·G + G − 1.</summary>
    private static Value RepeatHeads(GraphOps b, Value x, LlamaConfig c)
    {
        if (c.Group == 1) return x;
        var unsqueezed = b.Op("Unsqueeze", [x, b.Ints(2)]);
        var copies = b.Op("Concat", Enumerable.Repeat(unsqueezed, c.Group).ToArray(), Attribute.Int("axis", 2));
        return b.Op("Reshape", [copies, b.Ints(0, c.Heads, -1, c.HeadDim)]);
    }

    /// <summary>[b, heads, s, d] → [b, s, heads·d].</summary>
    private static Value Rows(GraphOps b, Value x, int width) =>
        b.Op("Reshape", [b.Op("Transpose", [x], Attribute.Ints("perm", 0, 2, 1, 3)), b.Ints(0, 0, width)]);

    private static Value Present(GraphOps b, Value cache, string name, LlamaConfig c, List<Value> presents)
    {
        cache.Name = name;
        cache.Type = new TensorType(b.FloatType, new Shape([Dim.Symbolic("batch"), c.KvHeads, Dim.Symbolic("total_sequence"), c.HeadDim]));
        presents.Add(cache);
        return cache;
    }

    /// <summary>x·W with W as [in, out] (ONNX MatMul layout), entries N(0, 1/in).</summary>
    private static Value Linear(GraphOps b, SeededWeights w, Value x, int inputs, int outputs, string name) =>
        b.Op("MatMul", [x, b.Weight(w.Normal(0, 1 / Math.Sqrt(inputs), inputs, outputs), name + ".weight")]);

    private static Value RmsNorm(GraphOps b, SeededWeights w, Value x, LlamaConfig c, string name) =>
        b.Op("RMSNormalization", [x, b.Weight(w.Normal(1.0, 0.05, c.Width), name + ".weight")],
            Attribute.Int("axis", -1), Attribute.Float("epsilon", c.NormEpsilon));

    /// <summary>[b, s, heads·d] → [b, heads, s, d].</summary>
    private static Value Heads(GraphOps b, Value x, int heads, int d) =>
        b.Op("Transpose", [b.Op("Reshape", [x, b.Ints(0, 0, heads, d)])], Attribute.Ints("perm", 0, 2, 1, 3));

    /// <summary>Rotary embedding, rotate-half form: [x1, x2] → [x1·cos − x2·sin, x2·cos + x1·sin], cos/sin [s, d/2].</summary>
    private static Value Rotate(GraphOps b, Value x, Value cos, Value sin, int d)
    {
        var halves = b.Graph.Append(new Node("Split", [x, b.Ints(d / 2, d / 2)], 2, attributes: [Attribute.Int("axis", -1)],
            name: b.Graph.FreshName("Split")));
        var (x1, x2) = (halves.Outputs[0]!, halves.Outputs[1]!);
        var first = b.Op("Sub", [b.Op("Mul", [x1, cos]), b.Op("Mul", [x2, sin])]);
        var second = b.Op("Add", [b.Op("Mul", [x2, cos]), b.Op("Mul", [x1, sin])]);
        return b.Op("Concat", [first, second], Attribute.Int("axis", -1));
    }

    /// <summary>logits = x · embedᵀ as Gemm(transB = 1) on [b·s, width], reshaped back to [b, s, vocab].</summary>
    private static Value TiedHead(GraphOps b, Value x, Value embed, LlamaConfig c)
    {
        var rows = b.Op("Reshape", [x, b.Ints(-1, c.Width)]);
        var product = b.Op("Gemm", [rows, embed], Attribute.Int("transB", 1));
        var leading = b.Op("Slice", [b.Op("Shape", [x]), b.Ints(0), b.Ints(2)]);
        return b.Op("Reshape", [product, b.Op("Concat", [leading, b.Ints(c.Vocab)], Attribute.Int("axis", 0))]);
    }
}
