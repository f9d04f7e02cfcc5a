using System.Text.RegularExpressions;
using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Quantization.WeightOnly;

/// <summary>The validated options of one <see cref="QuantizeWeightsPass"/> run. Throws with a clear message for bad options.</summary>
internal sealed record WeightOnlySettings(
    int Bits, int? BlockSize, bool Symmetric, WeightOnlyFormat Format, int AccuracyLevel, IReadOnlySet<string> OpTypes,
    IReadOnlyList<Regex> ExcludeNodes, int? HeadBits, int? EmbeddingBits)
{
    public const int MinBlockSize = 16, MaxBlockSize = 256;

    public bool PerChannel => BlockSize is null;

    public static WeightOnlySettings From(QuantizeWeightsOptions o, string pass)
    {
        bool nbits = o.Format == WeightOnlyFormat.MatMulNBits;
        Func<int, bool> supported = nbits ? MatMulNBitsPacking.SupportsGrid : b => b is >= 2 and <= 8;
        string supportedText = nbits ? "2, 3 (stored as 4-bit codes), 4 or 8 for format matmulnbits" : "2..8";
        if (!supported(o.Bits))
            throw new OnnxQuantException($"{pass}: bits is {o.Bits}; it must be {supportedText}" +
                (nbits && o.Bits is >= 2 and <= 8 ? " (MatMulNBits packs whole blocks into bytes; use format: dq for other widths)." : "."));
        int? blockSize;
        string bs = o.BlockSize.Trim();
        if (bs.Equals("per-channel", StringComparison.OrdinalIgnoreCase)) blockSize = null;
        else if (int.TryParse(bs, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int n)
                 && n is >= MinBlockSize and <= MaxBlockSize && (n & (n - 1)) == 0) blockSize = n;
        else
            throw new OnnxQuantException(
                $"{pass}: block-size is '{o.BlockSize}'; write a power of two from {MinBlockSize} to {MaxBlockSize} (e.g. 32) or per-channel.");
        if (o.AccuracyLevel is < 0 or > 4)
            throw new OnnxQuantException($"{pass}: accuracy-level is {o.AccuracyLevel}; MatMulNBits takes 0 (float activations) to 4 (int8 activations).");
        if (!nbits && o.AccuracyLevel != 0)
            throw new OnnxQuantException(
                $"{pass}: accuracy-level {o.AccuracyLevel} needs format: matmulnbits. With format: dq, ONNX Runtime picks the level " +
                "when it fuses DequantizeLinear→MatMul (session option session.qdq_matmulnbits_accuracy_level, default 4).");
        var ops = new HashSet<string>(o.OpTypes.Count > 0 ? o.OpTypes : ["MatMul", "Gemm"], StringComparer.Ordinal);
        if (ops.FirstOrDefault(t => t is not ("MatMul" or "Gemm")) is { } bad)
            throw new OnnxQuantException($"{pass}: op-types lists '{bad}'; weight-only quantization handles MatMul and Gemm " +
                "(embeddings: the 'embedding' option; convolutions: insert-qdq).");
        var head = WeightPrecision.Parse(o.LmHead, "lm-head", pass, supported, supportedText);
        var embedding = WeightPrecision.Parse(o.Embedding, "embedding", pass, supported, supportedText);
        var excluded = o.ExcludeNodes.Select(NameGlob.Compile).ToList();
        return new WeightOnlySettings(o.Bits, blockSize, o.Symmetric, o.Format, o.AccuracyLevel, ops, excluded, head, embedding);
    }

    /// <summary>Block size for rows of <paramref name="k"/> weights: per channel, one block of the next power of two ≥ K (≥ 16).</summary>
    public int BlockFor(int k) => BlockSize ?? (int)Math.Max(MinBlockSize, System.Numerics.BitOperations.RoundUpToPowerOf2((uint)k));
}
