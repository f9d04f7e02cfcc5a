using OnnxQuant.Ir.Numerics;
using OnnxQuant.Passes.Quantization.Rounding;

namespace OnnxQuant.Passes.Quantization.WeightOnly;

/// <summary>
/// The byte layouts of com.microsoft MatMulNBits (ALGORITHMS.md §6), also read by GatherBlockQuantized (uint8 data):
/// B is uint8 [N][⌈K/bs⌉][bs·bits/8], each block packed low bits first (for 4 bits element 2j is the low nibble),
/// K padded with zero weights (their code is the zero point, so they add nothing); zero points are packed uint8
/// [N][⌈blocks·bits/8⌉] in the same way, one row per output channel.
/// </summary>
public static class MatMulNBitsPacking
{
    /// <summary>The bit widths MatMulNBits packs evenly into bytes (and ORT's CPU kernels support).</summary>
    public static bool Supports(int bits) => bits is 2 or 4 or 8;

    /// <summary>The bit widths a weight may be rounded to for MatMulNBits: the packed ones, and 3 (stored in the 4-bit
    /// container, <see cref="InContainer"/>).</summary>
    public static bool SupportsGrid(int bits) => Supports(bits) || bits == 3;

    /// <summary>
    /// A weight rounded to a narrower grid (3 bits: codes 0 … 7) as the 4-bit MatMulNBits stores it: the same codes and
    /// scales with explicit zero points (a symmetric 3-bit grid's zero point is 4, not the 4-bit default 8), so
    /// (q − z)·s is unchanged; ORT's fast 4-bit kernel runs it.
    /// </summary>
    public static BlockQuantizedRows InContainer(BlockQuantizedRows q) =>
        Supports(q.Bits) ? q : q.Bits == 3 ? q with { Bits = 4, Symmetric = false } :
            throw new ArgumentOutOfRangeException(nameof(q), q.Bits, "MatMulNBits holds 2, 3 (as 4), 4 or 8 bits.");

    public static int BlobSize(int blockSize, int bits) => blockSize * bits / 8;

    /// <summary>B as a flat [rows·blocks·blob] array.</summary>
    public static byte[] PackB(BlockQuantizedRows q)
    {
        Check(q.Bits);
        int blob = BlobSize(q.BlockSize, q.Bits), blocks = q.BlockCount;
        var packed = new byte[(long)q.Rows * blocks * blob];
        var block = new int[q.BlockSize];
        for (int r = 0; r < q.Rows; r++)
        {
            for (int b = 0; b < blocks; b++)
            {
                int start = b * q.BlockSize, count = Math.Min(q.BlockSize, q.Columns - start);
                int zero = q.ZeroPoints[r * blocks + b];
                for (int k = 0; k < q.BlockSize; k++) block[k] = k < count ? q.Codes[(long)r * q.Columns + start + k] : zero;
                PackInto(block, q.Bits, packed.AsSpan((int)(((long)r * blocks + b) * blob), blob));
            }
        }
        return packed;
    }

    /// <summary>Zero points as packed uint8 [rows, ⌈blocks·bits/8⌉].</summary>
    public static byte[] PackZeroPoints(BlockQuantizedRows q)
    {
        Check(q.Bits);
        int blocks = q.BlockCount, rowBytes = ZeroPointRowBytes(blocks, q.Bits);
        var packed = new byte[q.Rows * rowBytes];
        for (int r = 0; r < q.Rows; r++)
            PackInto(q.ZeroPoints.AsSpan(r * blocks, blocks), q.Bits, packed.AsSpan(r * rowBytes, rowBytes));
        return packed;
    }

    public static int ZeroPointRowBytes(int blocks, int bits) => (blocks * bits + 7) / 8;

    /// <summary>Unpacks <paramref name="count"/> unsigned codes of <paramref name="bits"/> bits (the inverse of the packing above).</summary>
    public static int[] Unpack(ReadOnlySpan<byte> packed, int bits, int count)
    {
        Check(bits);
        var values = new int[count];
        if (bits == 8) for (int i = 0; i < count; i++) values[i] = packed[i];
        else SubBytePacking.Unpack(packed, bits, signed: false, values);
        return values;
    }

    private static void PackInto(ReadOnlySpan<int> values, int bits, Span<byte> destination)
    {
        if (bits == 8)
        {
            for (int i = 0; i < values.Length; i++) destination[i] = (byte)values[i];
            return;
        }
        SubBytePacking.Pack(values, bits).CopyTo(destination);
    }

    private static void Check(int bits)
    {
        if (!Supports(bits))
            throw new ArgumentOutOfRangeException(nameof(bits), bits, "MatMulNBits packs 2, 4 or 8 bits.");
    }
}
