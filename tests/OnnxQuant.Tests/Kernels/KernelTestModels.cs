using OnnxQuant.Ir;
using OnnxQuant.Ir.Building;
using OnnxQuant.Runtime.Kernels;

namespace OnnxQuant.Tests.Kernels;

/// <summary>Seeded one-node models of OnnxQuant's custom ops, their inputs, and the kernel paths this CPU has.</summary>
internal static class KernelTestModels
{
    /// <summary>scalar always; avx2, avxvnni and avx512vnni where this CPU has them (every AVX-512 VNNI CPU has AVX2, and
    /// runs the avxvnni path with the EVEX form of its instruction).</summary>
    public static string[] AvailableIsas()
    {
        string best = KernelLibrary.BestIsa();
        return best switch
        {
            "avx512vnni" => ["scalar", "avx2", "avxvnni", "avx512vnni"],
            "avxvnni" => ["scalar", "avx2", "avxvnni"],
            "avx2" => ["scalar", "avx2"],
            _ => ["scalar"],
        };
    }

    public sealed record W4A8Weights(int K, int N, int BlockSize, byte[] Codes, float[] Scales, byte[]? PackedZeroPoints, int[] ZeroPoints, float[]? Bias, int Bits = 4)
    {
        public int Blocks => (K + BlockSize - 1) / BlockSize;

        /// <summary>Dequantized weight of output <paramref name="n"/> at input <paramref name="k"/>.</summary>
        public float Weight(int n, int k) => (Codes[n * Blocks * BlockSize + k] - ZeroPoints[n * Blocks + k / BlockSize]) * Scales[n * Blocks + k / BlockSize];
    }

    /// <summary>Random 4-bit (or 8-bit) codes (unpacked, [N][blocks·bs], padding holds the zero point), scales, zero
    /// points, bias.</summary>
    public static W4A8Weights RandomW4A8(int seed, int k, int n, int blockSize, bool zeroPoints, bool bias, int bits = 4)
    {
        var random = new Random(seed);
        int blocks = (k + blockSize - 1) / blockSize, levels = 1 << bits;
        var zeros = Enumerable.Range(0, n * blocks).Select(_ => zeroPoints ? random.Next(levels) : levels / 2).ToArray();
        var codes = new byte[n * blocks * blockSize];
        for (int c = 0; c < n; c++)
            for (int kk = 0; kk < blocks * blockSize; kk++)
                codes[c * blocks * blockSize + kk] = (byte)(kk < k ? random.Next(levels) : zeros[c * blocks + kk / blockSize]);
        var scales = Enumerable.Range(0, n * blocks).Select(_ => (float)(0.001 + random.NextDouble() * 0.05)).ToArray();
        byte[]? packedZeros = null;
        if (zeroPoints && bits == 8)
            packedZeros = zeros.Select(z => (byte)z).ToArray();  // [N][blocks], one per byte
        else if (zeroPoints)
        {
            int row = (blocks + 1) / 2;
            packedZeros = new byte[n * row];
            for (int c = 0; c < n; c++)
                for (int b = 0; b < blocks; b++)
                    packedZeros[c * row + b / 2] |= (byte)(b % 2 == 0 ? zeros[c * blocks + b] : zeros[c * blocks + b] << 4);
        }
        var biasValues = bias ? Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray() : null;
        return new W4A8Weights(k, n, blockSize, codes, scales, packedZeros, zeros, biasValues, bits);
    }

    /// <summary>MatMulNBits' packed B: element 2j of a block in the low nibble.</summary>
    public static byte[] PackNibbles(byte[] codes)
    {
        var packed = new byte[codes.Length / 2];
        for (int i = 0; i < packed.Length; i++) packed[i] = (byte)(codes[2 * i] | codes[2 * i + 1] << 4);
        return packed;
    }

    /// <summary>A [rows, K] → [rows, N] model with one node: <paramref name="opType"/> in <paramref name="domain"/>.</summary>
    public static Model W4A8Model(W4A8Weights w, string opType = "MatMulW4A8", string domain = KernelLibrary.Domain, string? isa = null, int accuracyLevel = 4)
    {
        var b = new GraphBuilder(opset: 21).Opset(domain, 1);
        var a = b.Input("a", DataType.Float, "rows", w.K);
        var inputs = new List<Value?>
        {
            a,
            w.Bits == 8
                ? b.Constant(Tensor.FromSpan<byte>(DataType.UInt8, w.Codes, [w.N, w.Blocks, w.BlockSize]), "B")
                : b.Constant(Tensor.FromSpan<byte>(DataType.UInt8, PackNibbles(w.Codes), [w.N, w.Blocks, w.BlockSize / 2]), "B"),
            b.Constant(Tensor.FromFloats(w.Scales, w.N * w.Blocks), "scales"),
            w.PackedZeroPoints is null ? null : b.Constant(Tensor.FromSpan<byte>(DataType.UInt8, w.PackedZeroPoints, [w.N, w.Bits == 8 ? w.Blocks : (w.Blocks + 1) / 2]), "zero_points"),
        };
        // MatMulNBits has g_idx before the bias; MatMulW4A8 does not.
        if (w.Bias is not null && domain == "com.microsoft") inputs.Add(null);
        if (w.Bias is not null) inputs.Add(b.Constant(Tensor.FromFloats(w.Bias, w.N), "bias"));
        var attrs = new List<Attribute> { Attribute.Int("K", w.K), Attribute.Int("N", w.N), Attribute.Int("bits", w.Bits), Attribute.Int("block_size", w.BlockSize) };
        if (domain == "com.microsoft") attrs.Add(Attribute.Int("accuracy_level", accuracyLevel));
        if (isa is not null) attrs.Add(Attribute.String("isa", isa));
        b.Output(b.Op(opType, inputs, attrs, domain), "y");
        return b.Build();
    }

    public sealed record W8A8Weights(int K, int N, sbyte[] Codes, float[] Scales, float[]? Bias)
    {
        public float Weight(int n, int k) => Codes[k * N + n] * Scales[Scales.Length == 1 ? 0 : n];
    }

    public static W8A8Weights RandomW8A8(int seed, int k, int n, bool perTensor, bool bias)
    {
        var random = new Random(seed);
        var codes = Enumerable.Range(0, k * n).Select(_ => (sbyte)random.Next(-128, 128)).ToArray();
        var scales = Enumerable.Range(0, perTensor ? 1 : n).Select(_ => (float)(0.0005 + random.NextDouble() * 0.01)).ToArray();
        var biasValues = bias ? Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray() : null;
        return new W8A8Weights(k, n, codes, scales, biasValues);
    }

    public static Model W8A8Model(W8A8Weights w, string? isa = null)
    {
        var b = new GraphBuilder(opset: 21).Opset(KernelLibrary.Domain, 1);
        var a = b.Input("a", DataType.Float, "rows", w.K);
        var inputs = new List<Value?>
        {
            a,
            b.Constant(Tensor.FromSpan<sbyte>(DataType.Int8, w.Codes, [w.K, w.N]), "W"),
            b.Constant(Tensor.FromFloats(w.Scales, w.Scales.Length == 1 ? [] : [w.N]), "w_scale"),
        };
        if (w.Bias is not null) inputs.AddRange([null, b.Constant(Tensor.FromFloats(w.Bias, w.N), "bias")]);
        var attrs = isa is null ? new List<Attribute>() : [Attribute.String("isa", isa)];
        b.Output(b.Op("MatMulW8A8", inputs, attrs, KernelLibrary.Domain), "y");
        return b.Build();
    }

    /// <summary>Activations with a few per-token outliers (what per-token quantization is for).</summary>
    public static float[] RandomActivations(int seed, int rows, int k)
    {
        var random = new Random(seed);
        var a = new float[rows * k];
        for (int r = 0; r < rows; r++)
        {
            double rowScale = Math.Exp(random.NextDouble() * 4 - 2);
            for (int i = 0; i < k; i++) a[r * k + i] = (float)((random.NextDouble() * 2 - 1) * rowScale * (random.Next(50) == 0 ? 20 : 1));
        }
        if (rows > 1) Array.Clear(a, k, k);  // an all-zero token: scale 0, output = bias
        return a;
    }
}
