using OnnxQuant.Ir;
using OnnxQuant.Ir.Numerics;
using OnnxQuant.Passes.Rewriting;

namespace OnnxQuant.Passes.CustomOps;

/// <summary>
/// <c>MatMul(A, Ŵ)</c> where Ŵ is the standard-ONNX float decomposition of binary-coded weights that
/// <c>quantize-weights {rounding: gptqt}</c> exports (WeightOnlyRewriter.BinaryCoding):
/// <code>
/// Ŵ = Add(ReduceSum(Mul(Mod(Floor(Mul(DequantizeLinear(codes uint4 [1,K,N], 1, 0), [2^−i]), 2),
///                       expand(2α [p, blocks, 1, N])), axis 0), expand(c − Σα [blocks, 1, N]))
/// </code>
/// (expand = Expand, Reshape, and Slice when the last block is short) → <c>com.onnxquant.BcqMatMul(A, planes, α,
/// c)</c>: the p sign planes packed 1 bit per weight ([N, p, ⌈K/8⌉], bit j of a byte = weight 8g+j), α [N, blocks, p]
/// and c [N, blocks] = (c − Σα) + Σα. Weights decode to the same levels up to one float rounding of c.
/// The decomposition's nodes go once no other node reads them.
/// </summary>
internal sealed class FuseBinaryCodedMatMulIntoBcq : RewritePattern
{
    public const string OpType = "BcqMatMul";

    public override string RootOpType => "MatMul";

    /// <summary>What the decomposition holds, read back from its constants.</summary>
    private sealed record Decoded(int K, int N, int Planes, int BlockSize, int Blocks, int[] Codes, float[] Doubled, float[] Offsets);

    public override MatchResult Match(Node root, RewriteContext context)
    {
        if (root.Inputs[0] is not { ElementType: DataType.Float }) return MatchResult.Fail("its input A is not known to be float");
        var nodes = new List<Node>();
        var (decoded, reason) = Decode(root, nodes);
        if (decoded is null) return MatchResult.Fail(reason!);
        return MatchResult.Success(root, nodes, new Dictionary<string, Value> { ["a"] = root.Inputs[0]! });
    }

    /// <summary>Reads the decomposition feeding <paramref name="root"/>'s weight; its nodes join <paramref name="nodes"/>.</summary>
    private static (Decoded? Decoded, string? Reason) Decode(Node root, List<Node> nodes)
    {
        static (Decoded?, string?) Fail(string why) => (null, why);
        if (root.Inputs[1] is not { Producer: { OpType: "Add", IsDefaultDomain: true } add })
            return Fail("its weight is not a binary-coded decomposition (no final Add)");
        nodes.Add(add);
        Node? Producer(Value? v, string op)
        {
            if (v?.Producer is { IsDefaultDomain: true } p && p.OpType == op) { nodes.Add(p); return p; }
            return null;
        }
        var reduce = Producer(add.Inputs[0], "ReduceSum");
        var mulPlanes = reduce is null ? null : Producer(reduce.Inputs[0], "Mul");
        var mod = mulPlanes is null ? null : Producer(mulPlanes.Inputs[0], "Mod");
        var floor = mod is null ? null : Producer(mod.Inputs[0], "Floor");
        var shift = floor is null ? null : Producer(floor.Inputs[0], "Mul");
        var dq = shift is null ? null : Producer(shift.Inputs[0], "DequantizeLinear");
        if (dq is null) return Fail("its weight is not a binary-coded decomposition (Add(ReduceSum(Mul(Mod(Floor(Mul(DequantizeLinear…)))))))");
        if (reduce!.GetInt("keepdims", 1) != 0 || reduce.Inputs.Count < 2 || Ints(reduce.Inputs[1]) is not [0])
            return Fail("its ReduceSum is not over axis 0 without keepdims");
        if (mod!.GetInt("fmod", 0) != 1 || Floats(mod.Inputs[1]) is not [2f]) return Fail("its Mod is not fmod by 2");
        if (ConstantNode.ConstantOf(dq.Inputs[0]!) is not { ElementType: DataType.UInt4, Rank: 3 } codes || codes.Dims[0] != 1)
            return Fail("its codes are not a constant uint4 [1, K, N]");
        if (Floats(dq.Inputs[1]) is not [1f] || dq.Inputs.Count < 3 || ConstantNode.ConstantOf(dq.Inputs[2]!) is not { ElementType: DataType.UInt4 } zero
            || Unpack(zero)[0] != 0)
            return Fail("its codes' DequantizeLinear is not scale 1, zero point 0");
        int k = (int)codes.Dims[1], n = (int)codes.Dims[2];
        if (Floats(shift!.Inputs[1]) is not { } powers || powers.Length is < 1 or > 4
            || powers.Select((v, i) => v != MathF.Pow(2, -i)).Any(bad => bad))
            return Fail("its plane divisors are not 1, 1/2, … (1 to 4 planes)");
        int p = powers.Length;
        if (Expanded(mulPlanes!.Inputs[1], nodes, 1) is not { } alphas) return Fail("its alphas are not an expanded constant [p, blocks, 1, N]");
        if (Expanded(add.Inputs[1], nodes, 0) is not { } offsets) return Fail("its offsets are not an expanded constant [blocks, 1, N]");
        var (alphaConst, bsA) = alphas;
        var (offsetConst, bsC) = offsets;
        if (alphaConst.Rank != 4 || alphaConst.Dims[0] != p || alphaConst.Dims[2] != 1 || alphaConst.Dims[3] != n || alphaConst.ElementType != DataType.Float)
            return Fail("its alphas are not a float [p, blocks, 1, N]");
        int blocks = (int)alphaConst.Dims[1];
        if (offsetConst.Rank != 3 || offsetConst.Dims[0] != blocks || offsetConst.Dims[1] != 1 || offsetConst.Dims[2] != n || offsetConst.ElementType != DataType.Float)
            return Fail("its offsets are not a float [blocks, 1, N]");
        if (bsA != bsC || bsA % 8 != 0 || bsA <= 0 || (long)blocks * bsA < k || (long)(blocks - 1) * bsA >= k)
            return Fail($"its block size {bsA} is not a multiple of 8 that cuts K = {k} into {blocks} blocks");
        var decoded = new Decoded(k, n, p, (int)bsA, blocks, Unpack(codes), alphaConst.ToFloatArray(), offsetConst.ToFloatArray());
        if (decoded.Codes.Any(c => c >> p != 0)) return Fail($"a code uses more than {p} bits");
        return (decoded, null);
    }

    public override void Rewrite(Rewriter rewriter, MatchResult match)
    {
        var d = Decode(match.Root, []).Decoded!;
        int groups = (d.K + 7) / 8;
        var planes = new byte[d.N * d.Planes * groups];
        for (int kk = 0; kk < d.K; kk++)
            for (int col = 0; col < d.N; col++)
            {
                int code = d.Codes[kk * d.N + col];
                for (int i = 0; i < d.Planes; i++)
                    if (((code >> i) & 1) != 0) planes[(col * d.Planes + i) * groups + kk / 8] |= (byte)(1 << (kk % 8));
            }
        var alphas = new float[d.N * d.Blocks * d.Planes];
        var offsets = new float[d.N * d.Blocks];
        for (int col = 0; col < d.N; col++)
            for (int b = 0; b < d.Blocks; b++)
            {
                double c = d.Offsets[b * d.N + col];
                for (int i = 0; i < d.Planes; i++)
                {
                    float a = d.Doubled[(i * d.Blocks + b) * d.N + col] / 2;  // exact: halving a float
                    alphas[(col * d.Blocks + b) * d.Planes + i] = a;
                    c += a;
                }
                offsets[col * d.Blocks + b] = (float)c;
            }
        var root = match.Root;
        string hint = root.Name ?? "bcq";
        var inputs = new Value?[]
        {
            match.Value("a"),
            rewriter.AddConstant(Tensor.FromSpan<byte>(DataType.UInt8, planes, [d.N, d.Planes, groups]), hint + "_bcq_planes"),
            rewriter.AddConstant(Tensor.FromFloats(alphas, d.N, d.Blocks, d.Planes), hint + "_bcq_alphas"),
            rewriter.AddConstant(Tensor.FromFloats(offsets, d.N, d.Blocks), hint + "_bcq_offsets"),
        };
        var attrs = new[]
        {
            Attribute.Int("K", d.K), Attribute.Int("N", d.N), Attribute.Int("planes", d.Planes), Attribute.Int("block_size", d.BlockSize),
        };
        var node = rewriter.InsertBefore(root, new Node(OpType, inputs, 1, FuseCustomOpsPass.Domain, attrs, root.Name));
        rewriter.Replace(match, node);
    }

    private static long[]? Ints(Value? v) => v is not null && ConstantNode.ConstantOf(v) is { ElementType: DataType.Int64 } t ? t.AsSpan<long>().ToArray() : null;
    private static float[]? Floats(Value? v) => v is not null && ConstantNode.ConstantOf(v) is { ElementType: DataType.Float } t ? t.ToFloatArray() : null;

    private static int[] Unpack(Tensor t)
    {
        var values = new int[t.ElementCount];
        SubBytePacking.Unpack(t.RawData.Span, 4, signed: false, values);
        return values;
    }

    /// <summary>[Slice](Reshape(Expand(constant, [.., blocks, bs, N]), …)) → (constant, bs); the covered nodes join <paramref name="nodes"/>.</summary>
    private static (Tensor Constant, long BlockSize)? Expanded(Value? v, List<Node> nodes, int leading)
    {
        var local = new List<Node>();
        if (v?.Producer is { OpType: "Slice", IsDefaultDomain: true } slice) { local.Add(slice); v = slice.Inputs[0]; }
        if (v?.Producer is not { OpType: "Reshape", IsDefaultDomain: true } reshape) return null;
        local.Add(reshape);
        if (reshape.Inputs[0]?.Producer is not { OpType: "Expand", IsDefaultDomain: true } expand) return null;
        local.Add(expand);
        if (expand.Inputs[0] is not { } c || ConstantNode.ConstantOf(c) is not { } constant) return null;
        if (Ints(expand.Inputs[1]) is not { } full || full.Length != leading + 3) return null;
        nodes.AddRange(local);
        return (constant, full[leading + 1]);
    }
}
