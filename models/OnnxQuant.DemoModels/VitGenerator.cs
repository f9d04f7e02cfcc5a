using OnnxQuant.Ir;

namespace OnnxQuant.DemoModels;

/// <summary>
/// Builds a vision transformer the way PyTorch's exporter writes one at opset 14: decomposed LayerNorm
/// (ReduceMean/Sub/Pow/Sqrt/Div), erf-form GELU, attention from MatMul/Reshape/Transpose/Softmax, a patch-embedding
/// Conv and a Gemm head. That is the messy input canonicalization and quantization recipes must handle. Weights are
/// seeded random: these models are for speed and structure, never for accuracy figures.
/// </summary>
public static class VitGenerator
{
    public const int ExportOpset = 14;

    public static Model Generate(VitConfig c, int seed)
    {
        var w = new SeededWeights(seed);
        var outliers = OutlierScales(c, seed);
        var g = new Graph { Name = "vit" };
        var b = new GraphOps(g);
        var x0 = g.AddInput("pixel_values", new TensorType(DataType.Float,
            new Shape([Dim.Symbolic("batch"), c.Channels, c.ImageSize, c.ImageSize])));

        var patches = b.Op("Conv", [x0, b.Const(w.Normal(0.02, c.Width, c.Channels, c.PatchSize, c.PatchSize), "patch_embed.weight"),
                b.Const(w.Normal(0.02, c.Width), "patch_embed.bias")],
            Attribute.Ints("kernel_shape", c.PatchSize, c.PatchSize), Attribute.Ints("strides", c.PatchSize, c.PatchSize));
        var flat = b.Op("Reshape", [patches, b.Ints(0, c.Width, -1)]);
        var tokens = b.Op("Transpose", [flat], Attribute.Ints("perm", 0, 2, 1));

        // Broadcast the class token over the batch: Shape → Gather → Concat → Expand, as exporters write it.
        var batch = b.Op("Gather", [b.Op("Shape", [x0]), b.Ints(0)], Attribute.Int("axis", 0));
        var clsShape = b.Op("Concat", [batch, b.Ints(1, c.Width)], Attribute.Int("axis", 0));
        var cls = b.Op("Expand", [b.Const(w.Normal(0.02, 1, 1, c.Width), "cls_token"), clsShape]);
        var x = b.Op("Concat", [cls, tokens], Attribute.Int("axis", 1));
        x = b.Op("Add", [x, b.Const(w.Normal(0.02, 1, c.Tokens, c.Width), "pos_embed")]);

        for (int l = 0; l < c.Layers; l++)
        {
            string p = $"blocks.{l}.";
            var h = LayerNorm(b, w, x, c.Width, p + "norm1", outliers);
            var qkv = Linear(b, w, h, c.Width, 3 * c.Width, p + "attn.qkv", outliers);
            var split = b.Op("Transpose", [b.Op("Reshape", [qkv, b.Ints(0, 0, 3, c.Heads, c.HeadDim)])],
                Attribute.Ints("perm", 2, 0, 3, 1, 4));
            var q = b.Op("Gather", [split, b.Scalar(0)], Attribute.Int("axis", 0));
            var k = b.Op("Gather", [split, b.Scalar(1)], Attribute.Int("axis", 0));
            var v = b.Op("Gather", [split, b.Scalar(2)], Attribute.Int("axis", 0));
            var scores = b.Op("Mul", [b.Op("MatMul", [q, b.Op("Transpose", [k], Attribute.Ints("perm", 0, 1, 3, 2))]),
                b.Const(Tensor.Scalar((float)(1 / Math.Sqrt(c.HeadDim))))]);
            var attn = b.Op("Softmax", [scores], Attribute.Int("axis", -1));
            var ctx = b.Op("Transpose", [b.Op("MatMul", [attn, v])], Attribute.Ints("perm", 0, 2, 1, 3));
            ctx = b.Op("Reshape", [ctx, b.Ints(0, 0, c.Width)]);
            x = b.Op("Add", [x, Linear(b, w, ctx, c.Width, c.Width, p + "attn.proj")]);

            h = LayerNorm(b, w, x, c.Width, p + "norm2", outliers);
            var fc1 = Linear(b, w, h, c.Width, c.MlpWidth, p + "mlp.fc1", outliers);
            x = b.Op("Add", [x, Linear(b, w, Gelu(b, fc1), c.MlpWidth, c.Width, p + "mlp.fc2")]);
        }
        x = LayerNorm(b, w, x, c.Width, "norm", outliers);
        var clsOut = b.Op("Gather", [x, b.Scalar(0)], Attribute.Int("axis", 1));
        // The head's weight is [classes, width] (transB): its columns are the LayerNorm's channels.
        var head = w.Normal(0.02, c.Classes, c.Width);
        if (outliers is not null) head = Scaled(head, i => 1 / outliers[i % c.Width]);
        var logits = b.Op("Gemm", [clsOut, b.Const(head, "head.weight"),
            b.Const(w.Normal(0.02, c.Classes), "head.bias")], Attribute.Int("transB", 1));
        logits.Name = "logits";
        logits.Type = new TensorType(DataType.Float, new Shape([Dim.Symbolic("batch"), c.Classes]));
        g.Outputs.Add(logits);

        var model = new Model(g) { IrVersion = 8, ProducerName = "onnxquant generate", ProducerVersion = "0.1.0" };
        model.OpsetImports.Add(new OpsetImport("", ExportOpset));
        return model;
    }

    /// <summary>
    /// The per-channel factors of <see cref="VitConfig.OutlierChannels"/> (null when 0): that many channels, the same in
    /// every LayerNorm, each with a factor drawn uniformly from [10, 50]; from their own seeded stream, so the weights
    /// are those of the model without outliers.
    /// </summary>
    private static float[]? OutlierScales(VitConfig c, int seed)
    {
        if (c.OutlierChannels <= 0) return null;
        if (c.OutlierChannels > c.Width) throw new OnnxQuantException($"generate: {c.OutlierChannels} outlier channels exceed the width {c.Width}.");
        var random = new Random(unchecked(seed * 7919 + 104729));
        var scales = Enumerable.Repeat(1f, c.Width).ToArray();
        foreach (int channel in Enumerable.Range(0, c.Width).OrderBy(_ => random.Next()).Take(c.OutlierChannels).Order())
            scales[channel] = 10 + 40 * (float)random.NextDouble();
        return scales;
    }

    private static Tensor Scaled(Tensor t, Func<int, float> factor)
    {
        var values = t.ToFloatArray();
        for (int i = 0; i < values.Length; i++) values[i] *= factor(i);
        return Tensor.FromFloats(values, t.Dims.ToArray());
    }

    /// <summary>y = x·W + b with W as [in, out] (ONNX MatMul layout); rows of W divided by <paramref name="inputScales"/> when given.</summary>
    private static Value Linear(GraphOps b, SeededWeights w, Value x, int inputs, int outputs, string name, float[]? inputScales = null)
    {
        var weight = w.Normal(0.02, inputs, outputs);
        if (inputScales is not null) weight = Scaled(weight, i => 1 / inputScales[i / outputs]);
        return b.Op("Add", [b.Op("MatMul", [x, b.Const(weight, name + ".weight")]), b.Const(w.Normal(0.02, outputs), name + ".bias")]);
    }

    /// <summary>LayerNorm over the last axis, decomposed as opset-14 exporters write it; γ and β times <paramref name="scales"/> when given.</summary>
    private static Value LayerNorm(GraphOps b, SeededWeights w, Value x, int width, string name, float[]? scales = null)
    {
        var mean = b.Op("ReduceMean", [x], Attribute.Ints("axes", -1), Attribute.Int("keepdims", 1));
        var centered = b.Op("Sub", [x, mean]);
        var variance = b.Op("ReduceMean", [b.Op("Pow", [centered, b.Const(Tensor.Scalar(2f))])],
            Attribute.Ints("axes", -1), Attribute.Int("keepdims", 1));
        var std = b.Op("Sqrt", [b.Op("Add", [variance, b.Const(Tensor.Scalar(1e-6f))])]);
        var normalized = b.Op("Div", [centered, std]);
        var gamma = w.Normal(1.0, 0.05, width);
        var beta = w.Normal(0.02, width);
        if (scales is not null) (gamma, beta) = (Scaled(gamma, i => scales[i]), Scaled(beta, i => scales[i]));
        return b.Op("Add", [b.Op("Mul", [normalized, b.Const(gamma, name + ".weight")]), b.Const(beta, name + ".bias")]);
    }

    /// <summary>GELU in erf form: x·0.5·(1 + erf(x/√2)).</summary>
    private static Value Gelu(GraphOps b, Value x)
    {
        var erf = b.Op("Erf", [b.Op("Div", [x, b.Const(Tensor.Scalar((float)Math.Sqrt(2)))])]);
        return b.Op("Mul", [b.Op("Mul", [x, b.Op("Add", [erf, b.Const(Tensor.Scalar(1f))])]), b.Const(Tensor.Scalar(0.5f))]);
    }
}
