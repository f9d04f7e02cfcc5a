using OnnxQuant.Ir;
using OnnxQuant.Ir.Building;
using OnnxQuant.Runtime.Kernels;

namespace OnnxQuant.Tests.Kernels;

/// <summary>
/// Random binary-coded weights in BcqMatMul's input layout (planes uint8 [N, P, ⌈K/8⌉], alphas [N, blocks, P],
/// offsets [N, blocks]) and the one-node model that runs them.
/// </summary>
internal sealed record BcqTestWeights(int K, int N, int Planes, int BlockSize, byte[] PackedPlanes, float[] Alphas, float[]? Offsets, float[]? Bias)
{
    public int Blocks => (K + BlockSize - 1) / BlockSize;
    public int Groups => (K + 7) / 8;

    public bool Sign(int n, int plane, int k) => ((PackedPlanes[(n * Planes + plane) * Groups + k / 8] >> (k % 8)) & 1) != 0;

    /// <summary>Ŵ[k, n] = c + Σᵢ αᵢ·(±1), in double.</summary>
    public double Weight(int n, int k)
    {
        int b = k / BlockSize;
        double w = Offsets is null ? 0 : Offsets[n * Blocks + b];
        for (int i = 0; i < Planes; i++) w += (Sign(n, i, k) ? 1 : -1) * (double)Alphas[(n * Blocks + b) * Planes + i];
        return w;
    }

    /// <summary>|c| + Σᵢ |αᵢ|: the largest |Ŵ| of a block (for the rounding bound).</summary>
    public double Magnitude(int n, int k)
    {
        int b = k / BlockSize;
        double m = Offsets is null ? 0 : Math.Abs(Offsets[n * Blocks + b]);
        for (int i = 0; i < Planes; i++) m += Math.Abs(Alphas[(n * Blocks + b) * Planes + i]);
        return m;
    }

    public static BcqTestWeights Random(int seed, int k, int n, int planes, int blockSize, bool offsets, bool bias)
    {
        var random = new Random(seed);
        int blocks = (k + blockSize - 1) / blockSize, groups = (k + 7) / 8;
        var packed = new byte[n * planes * groups];
        random.NextBytes(packed);
        // Bits past K are padding: the op must ignore them whatever they hold.
        var alphas = new float[n * blocks * planes];
        for (int j = 0; j < alphas.Length; j++) alphas[j] = (float)(0.002 + random.NextDouble() * 0.05 / (1 + j % planes));
        var offsetValues = offsets ? Enumerable.Range(0, n * blocks).Select(_ => (float)(random.NextDouble() * 0.02 - 0.01)).ToArray() : null;
        var biasValues = bias ? Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray() : null;
        return new BcqTestWeights(k, n, planes, blockSize, packed, alphas, offsetValues, biasValues);
    }

    public Model Model(string? isa = null)
    {
        var b = new GraphBuilder(opset: 21).Opset(KernelLibrary.Domain, 1);
        var a = b.Input("a", DataType.Float, "rows", K);
        var inputs = new List<Value?>
        {
            a,
            b.Constant(Tensor.FromSpan<byte>(DataType.UInt8, PackedPlanes, [N, Planes, Groups]), "planes"),
            b.Constant(Tensor.FromFloats(Alphas, N, Blocks, Planes), "alphas"),
            Offsets is null ? null : b.Constant(Tensor.FromFloats(Offsets, N, Blocks), "offsets"),
        };
        if (Bias is not null) inputs.Add(b.Constant(Tensor.FromFloats(Bias, N), "bias"));
        while (inputs[^1] is null) inputs.RemoveAt(inputs.Count - 1);
        var attrs = new List<Attribute> { Attribute.Int("K", K), Attribute.Int("N", N), Attribute.Int("planes", Planes), Attribute.Int("block_size", BlockSize) };
        if (isa is not null) attrs.Add(Attribute.String("isa", isa));
        b.Output(b.Op("BcqMatMul", inputs, attrs, KernelLibrary.Domain), "y");
        return b.Build();
    }
}
