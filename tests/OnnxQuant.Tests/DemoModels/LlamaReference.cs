using OnnxQuant.Ir;
using OnnxQuant.DemoModels;

namespace OnnxQuant.Tests.DemoModels;

/// <summary>
/// The Llama forward pass written out loop by loop in double precision, from the definition (Hugging Face's
/// LlamaForCausalLM without cache) and not from the generator's graph: position by position, head by head, with the
/// causal mask as "only keys j ≤ i", rotary as "rotate half", and query head h reading KV head h / (H / K). It reads
/// the weights by name from the generated model, so a test can compare the two.
/// </summary>
internal static class LlamaReference
{
    /// <summary>Logits [batch, seq, vocab] for token ids [batch, seq].</summary>
    public static double[] Forward(Model model, LlamaConfig c, long[] ids, int batch, int seq)
    {
        var weights = model.Graph.Constants.Where(v => v.Name is not null && v.Const!.ElementType == DataType.Float).ToDictionary(v => v.Name!, v => v.Const!.AsSpan<float>().ToArray());
        float[] W(string name) => weights[name];
        int width = c.Width, d = c.HeadDim, vocab = c.Vocab;
        var logits = new double[batch * seq * vocab];
        for (int b = 0; b < batch; b++)
        {
            var x = new double[seq][];
            for (int t = 0; t < seq; t++)
            {
                long id = ids[b * seq + t];
                x[t] = Enumerable.Range(0, width).Select(i => (double)W("model.embed_tokens.weight")[id * width + i]).ToArray();
            }
            for (int l = 0; l < c.Layers; l++)
            {
                string p = $"model.layers.{l}.";
                var n = x.Select(r => RmsNorm(r, W(p + "input_layernorm.weight"), c.NormEpsilon)).ToArray();
                var q = n.Select(r => MatVec(r, W(p + "self_attn.q_proj.weight"), width, width)).ToArray();
                var k = n.Select(r => MatVec(r, W(p + "self_attn.k_proj.weight"), width, c.KvWidth)).ToArray();
                var v = n.Select(r => MatVec(r, W(p + "self_attn.v_proj.weight"), width, c.KvWidth)).ToArray();
                for (int t = 0; t < seq; t++)
                {
                    for (int h = 0; h < c.Heads; h++) Rotate(q[t], h * d, d, t, c.RopeTheta);
                    for (int h = 0; h < c.KvHeads; h++) Rotate(k[t], h * d, d, t, c.RopeTheta);
                }
                var context = new double[seq][];
                for (int t = 0; t < seq; t++)
                {
                    context[t] = new double[width];
                    for (int h = 0; h < c.Heads; h++)
                    {
                        int kv = h / (c.Heads / c.KvHeads);
                        // Causal: position t attends to keys 0..t only.
                        var scores = new double[t + 1];
                        for (int j = 0; j <= t; j++)
                        {
                            double s = 0;
                            for (int i = 0; i < d; i++) s += q[t][h * d + i] * k[j][kv * d + i];
                            scores[j] = s / Math.Sqrt(d);
                        }
                        double max = scores.Max(), sum = scores.Sum(s => Math.Exp(s - max));
                        for (int j = 0; j <= t; j++)
                        {
                            double a = Math.Exp(scores[j] - max) / sum;
                            for (int i = 0; i < d; i++) context[t][h * d + i] += a * v[j][kv * d + i];
                        }
                    }
                }
                for (int t = 0; t < seq; t++)
                {
                    Add(x[t], MatVec(context[t], W(p + "self_attn.o_proj.weight"), width, width));
                    var m = RmsNorm(x[t], W(p + "post_attention_layernorm.weight"), c.NormEpsilon);
                    var gate = MatVec(m, W(p + "mlp.gate_proj.weight"), width, c.Ffn);
                    var up = MatVec(m, W(p + "mlp.up_proj.weight"), width, c.Ffn);
                    var hidden = gate.Select((g, i) => g / (1 + Math.Exp(-g)) * up[i]).ToArray();
                    Add(x[t], MatVec(hidden, W(p + "mlp.down_proj.weight"), c.Ffn, width));
                }
            }
            for (int t = 0; t < seq; t++)
            {
                var n = RmsNorm(x[t], W("model.norm.weight"), c.NormEpsilon);
                double[] row = c.TiedEmbeddings
                    ? MatVecTransposed(n, W("model.embed_tokens.weight"), vocab, width)
                    : MatVec(n, W("lm_head.weight"), width, vocab);
                Array.Copy(row, 0, logits, (b * seq + t) * vocab, vocab);
            }
        }
        return logits;
    }

    private static double[] RmsNorm(double[] x, float[] gamma, double epsilon)
    {
        double rms = Math.Sqrt(x.Sum(v => v * v) / x.Length + epsilon);
        return x.Select((v, i) => v / rms * gamma[i]).ToArray();
    }

    /// <summary>x · W with W row-major [inputs, outputs].</summary>
    private static double[] MatVec(double[] x, float[] w, int inputs, int outputs)
    {
        var y = new double[outputs];
        for (int i = 0; i < inputs; i++)
            for (int o = 0; o < outputs; o++) y[o] += x[i] * w[i * outputs + o];
        return y;
    }

    /// <summary>x · Eᵀ with E row-major [rows, x.Length].</summary>
    private static double[] MatVecTransposed(double[] x, float[] e, int rows, int width)
    {
        var y = new double[rows];
        for (int r = 0; r < rows; r++)
            for (int i = 0; i < width; i++) y[r] += x[i] * e[r * width + i];
        return y;
    }

    /// <summary>Rotates channel pairs (i, i + d/2) of one head at <paramref name="offset"/> by position · θ^(−2i/d).</summary>
    private static void Rotate(double[] v, int offset, int d, int position, double theta)
    {
        for (int i = 0; i < d / 2; i++)
        {
            double angle = position * Math.Pow(theta, -2.0 * i / d);
            double a = v[offset + i], b = v[offset + i + d / 2];
            v[offset + i] = a * Math.Cos(angle) - b * Math.Sin(angle);
            v[offset + i + d / 2] = b * Math.Cos(angle) + a * Math.Sin(angle);
        }
    }

    private static void Add(double[] x, double[] y)
    {
        for (int i = 0; i < x.Length; i++) x[i] += y[i];
    }
}
