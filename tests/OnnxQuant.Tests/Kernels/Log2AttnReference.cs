using OnnxQuant.Ir;
using OnnxQuant.Ir.Building;
using OnnxQuant.Passes.Quantization.Repq;
using OnnxQuant.Passes.Rewriting;
using OnnxQuant.Runtime.Kernels;

namespace OnnxQuant.Tests.Kernels;

/// <summary>
/// Log2AttnMatMul's arithmetic written out in C# (codes by counting thresholds, integer sums per code, the shift
/// combination, the same double operations in the same order), attention-shaped test data, and the models: the
/// one-node custom op and RepQ's standard-ONNX export (<see cref="Log2Export"/> + DequantizeLinear + MatMul).
/// </summary>
internal static class Log2AttnReference
{
    public sealed record Case(int Batch, int M, int T, int N, float[] A, byte[] V, bool Signed, int Zero, float VScale, Log2Quantizer Quantizer)
    {
        public int ValueOf(int index) => Signed ? (sbyte)V[index] : V[index];
        public long[] ADims => [Batch, 1, M, T];
        public long[] VDims => [Batch, 1, T, N];
    }

    /// <summary>Softmax rows of random logits (sharp and flat rows), a few entries set exactly to thresholds, random V codes.</summary>
    public static Case Random(int seed, int bits, bool signed, int batch = 3, int m = 37, int t = 50, int n = 40)
    {
        var random = new Random(seed);
        var a = new float[batch * m * t];
        for (int r = 0; r < batch * m; r++)
        {
            double temperature = 0.3 + 4 * random.NextDouble();
            var logits = Enumerable.Range(0, t).Select(_ => random.NextDouble() * 2 * temperature).ToArray();
            double max = logits.Max(), sum = logits.Sum(x => Math.Exp(x - max));
            for (int j = 0; j < t; j++) a[r * t + j] = (float)(Math.Exp(logits[j] - max) / sum);
        }
        var quantizer = new Log2Quantizer(0.5f, bits);
        for (int i = 0; i < 40; i++) a[random.Next(a.Length)] = quantizer.Thresholds[random.Next(quantizer.Thresholds.Length)];
        a[1] = 0;
        var v = new byte[batch * t * n];
        random.NextBytes(v);
        int zero = signed ? random.Next(-20, 20) : random.Next(100, 156);
        return new Case(batch, m, t, n, a, v, signed, zero, 0.0123f, quantizer);
    }

    /// <summary>The kernel's result, bit for bit: exact integer sums per code, then the shared double combination.</summary>
    public static float[] Expected(Case c)
    {
        int levels = 1 << c.Quantizer.Bits, shift = levels / 2;
        double factor = Math.ScaleB((double)c.Quantizer.Scale * c.VScale, -shift);
        var y = new float[c.Batch * c.M * c.N];
        var acc = new long[levels, c.N];
        var used = new bool[levels];
        for (int b = 0; b < c.Batch; b++)
            for (int i = 0; i < c.M; i++)
            {
                Array.Clear(acc);
                Array.Clear(used);
                for (int j = 0; j < c.T; j++)
                {
                    int q = c.Quantizer.Code(c.A[(b * c.M + i) * c.T + j]);
                    if (q >= levels) continue;
                    used[q] = true;
                    for (int col = 0; col < c.N; col++) acc[q, col] += c.ValueOf((b * c.T + j) * c.N + col) - c.Zero;
                }
                for (int col = 0; col < c.N; col++)
                {
                    double even = 0, odd = 0;
                    if (shift <= 32)
                    {
                        long e = 0, o = 0;
                        for (int q = 0; q < levels; q++)
                            if (used[q]) { if (q % 2 == 0) e += acc[q, col] << (shift - q / 2); else o += acc[q, col] << (shift - (q + 1) / 2); }
                        even = e;
                        odd = o;
                    }
                    else
                    {
                        for (int q = 0; q < levels; q++)
                            if (used[q]) { if (q % 2 == 0) even += Math.ScaleB(acc[q, col], shift - q / 2); else odd += Math.ScaleB(acc[q, col], shift - (q + 1) / 2); }
                    }
                    y[(b * c.M + i) * c.N + col] = (float)(factor * (even + Math.Sqrt(2) * odd));
                }
            }
        return y;
    }

    /// <summary>The definition in double: Σ_j s·2^(−q/2)·s_V·(V − z) (Â = 0 for q = 2^b), and Σ_j of the terms' magnitudes.</summary>
    public static (double[] Value, double[] Magnitude) Definition(Case c)
    {
        int levels = 1 << c.Quantizer.Bits;
        var value = new double[c.Batch * c.M * c.N];
        var magnitude = new double[value.Length];
        for (int b = 0; b < c.Batch; b++)
            for (int i = 0; i < c.M; i++)
                for (int j = 0; j < c.T; j++)
                {
                    int q = c.Quantizer.Code(c.A[(b * c.M + i) * c.T + j]);
                    if (q >= levels) continue;
                    double p = c.Quantizer.Scale * Math.Pow(2, -q / 2.0);
                    for (int col = 0; col < c.N; col++)
                    {
                        double term = p * c.VScale * (c.ValueOf((b * c.T + j) * c.N + col) - c.Zero);
                        value[(b * c.M + i) * c.N + col] += term;
                        magnitude[(b * c.M + i) * c.N + col] += Math.Abs(term);
                    }
                }
        return (value, magnitude);
    }

    public static Dictionary<string, Tensor> Feeds(Case c) => new()
    {
        ["a"] = Tensor.FromFloats(c.A, c.ADims),
        ["v"] = Tensor.FromSpan<byte>(c.Signed ? DataType.Int8 : DataType.UInt8, c.V, c.VDims),
    };

    private static (GraphBuilder Builder, Value A, Value V) Inputs(Case c, bool customDomain, bool symbolicKeys = false)
    {
        var b = new GraphBuilder(opset: 21);
        if (customDomain) b.Opset(KernelLibrary.Domain, KernelLibrary.Version);
        var a = b.Input("a", DataType.Float, "batch", 1, c.M, c.T);
        var v = b.Input("v", c.Signed ? DataType.Int8 : DataType.UInt8, "batch", 1, symbolicKeys ? "keys" : c.T, c.N);
        return (b, a, v);
    }

    private static Tensor ZeroTensor(Case c) => c.Signed ? Tensor.FromSpan<sbyte>(DataType.Int8, [(sbyte)c.Zero], []) : Tensor.FromSpan<byte>(DataType.UInt8, [(byte)c.Zero], []);

    /// <summary>y = Log2AttnMatMul(a, thresholds, v, s_V, z_V); <paramref name="symbolicKeys"/>: V's key axis is not fixed.</summary>
    public static Model CustomOpModel(Case c, string? isa = null, bool symbolicKeys = false)
    {
        var (b, a, v) = Inputs(c, customDomain: true, symbolicKeys);
        var attrs = new List<Attribute> { Attribute.Float("a_scale", c.Quantizer.Scale) };
        if (isa is not null) attrs.Add(Attribute.String("isa", isa));
        var y = b.Op("Log2AttnMatMul", [a, b.Constant(Tensor.FromFloats(c.Quantizer.Thresholds, c.Quantizer.Thresholds.Length)), v,
                                        b.Constant(Tensor.FromFloats([c.VScale])), b.Constant(ZeroTensor(c))], attrs, KernelLibrary.Domain);
        b.Output(y, "y");
        return b.Build();
    }

    /// <summary>RepQ's standard-ONNX form: y = MatMul(log√2 export of Identity(a), DequantizeLinear(v, s_V, z_V)).</summary>
    public static Model ExportModel(Case c)
    {
        var (b, a, v) = Inputs(c, customDomain: false);
        var probabilities = b.Op("Identity", a);
        var y = b.Op("MatMul", probabilities, b.Op("DequantizeLinear", v, b.Constant(Tensor.FromFloats([c.VScale])), b.Constant(ZeroTensor(c))));
        b.Output(y, "y");
        var model = b.Build();
        var identity = model.Graph.Nodes.Single(n => n.OpType == "Identity");
        identity.Output.Type = new TensorType(DataType.Float, new Shape([Dim.Symbolic("batch"), 1, c.M, c.T]));
        Log2Export.Insert(new Rewriter(model.Graph), identity.Output, c.Quantizer);
        model.Graph.Nodes.Single(n => n.OpType == "MatMul").Output.Type = new TensorType(DataType.Float, new Shape([Dim.Symbolic("batch"), 1, c.M, c.N]));
        return model;
    }
}
