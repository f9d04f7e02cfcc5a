using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Reporting;

/// <summary>
/// Decodes a com.microsoft MatMulNBits node's constant weight back to the float [K, N] matrix it stands for (ONNX
/// Runtime's contrib-op layout: B is [N, blocks, blob] with the codes of K packed low bits first, scales [N·blocks],
/// optional zero points packed the same way or as floats, default 2^(bits−1)).
/// </summary>
public static class MatMulNBitsWeights
{
    /// <summary>
    /// True for the ops that keep MatMulNBits' blocked layout: com.microsoft.MatMulNBits and com.onnxquant.MatMulW4A8
    /// (its inputs are A, B, scales, zero points, bias: the same first four).
    /// </summary>
    public static bool IsBlockedInt(Node node) =>
        node.OpType == "MatMulNBits" && node.Domain == "com.microsoft" || node.OpType == "MatMulW4A8" && node.Domain == "com.onnxquant";

    /// <summary>The weight as a row-major [K, N] float array, or null when it is not constant or not in a layout read here.</summary>
    public static float[]? Decode(Node node)
    {
        if (!IsBlockedInt(node) || node.Inputs.Count < 3) return null;
        int bits = (int)node.GetInt("bits", 4), block = (int)node.GetInt("block_size", 0);
        long k = node.GetInt("K", 0), n = node.GetInt("N", 0);
        if (bits is not (2 or 4 or 8) || block <= 0 || k <= 0 || n <= 0 || node.GetAttribute("g_idx") is not null) return null;
        if (node.OpType == "MatMulNBits" && node.Inputs.Count > 4 && node.Inputs[4] is not null) return null; // g_idx input: not decoded here
        if (node.Inputs[1] is not { } bv || ConstantNode.ConstantOf(bv) is not { } b || b.ElementType != DataType.UInt8) return null;
        if (node.Inputs[2] is not { } sv || ConstantNode.ConstantOf(sv) is not { } scaleTensor) return null;
        var codes = b.RawData.Span;
        var scales = scaleTensor.ToFloatArray();
        long blocks = (k + block - 1) / block, blob = block * bits / 8;
        if (codes.Length != n * blocks * blob || scales.Length != n * blocks) return null;
        float[]? zeroFloats = null;
        byte[]? zeroCodes = null;
        if (node.Inputs.Count > 3 && node.Inputs[3] is { } zv)
        {
            if (ConstantNode.ConstantOf(zv) is not { } z) return null;
            if (z.ElementType == DataType.UInt8) zeroCodes = z.RawData.ToArray();
            else zeroFloats = z.ToFloatArray();
        }
        long zeroRow = (blocks * bits + 7) / 8;
        int mask = (1 << bits) - 1, perByte = 8 / bits;
        var w = new float[k * n];
        for (long col = 0; col < n; col++)
            for (long blk = 0; blk < blocks; blk++)
            {
                float scale = scales[col * blocks + blk];
                float zero;
                if (zeroFloats is not null) zero = zeroFloats[col * blocks + blk];
                else if (zeroCodes is not null)
                {
                    long at = col * zeroRow * perByte + blk;
                    zero = (zeroCodes[at / perByte] >> (int)(at % perByte * bits)) & mask;
                }
                else zero = 1 << (bits - 1);
                for (int i = 0; i < block && blk * block + i < k; i++)
                {
                    long at = (col * blocks + blk) * blob * perByte + i;
                    int q = (codes[(int)(at / perByte)] >> (int)(at % perByte * bits)) & mask;
                    w[(blk * block + i) * n + col] = (q - zero) * scale;
                }
            }
        return w;
    }
}
