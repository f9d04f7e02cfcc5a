using FsCheck.Xunit;
using OnnxQuant.Ir;
using OnnxQuant.Passes.Quantization.WeightOnly;
using OnnxQuant.Passes.Quantization.Rounding;

namespace OnnxQuant.Tests.Quantization.WeightOnly;

public class MatMulNBitsPackingTests
{
    /// <summary>Random codes from the FsCheck integers (mixed, so small integers still cover the whole range).</summary>
    private static BlockQuantizedRows RandomRows(int seed, int rows, int cols, int bits, int block)
    {
        var random = new Random(seed);
        int blocks = (cols + block - 1) / block;
        var codes = Enumerable.Range(0, rows * cols).Select(_ => (byte)random.Next(1 << bits)).ToArray();
        var zeros = Enumerable.Range(0, rows * blocks).Select(_ => random.Next(1 << bits)).ToArray();
        return new BlockQuantizedRows(rows, cols, bits, block, false, codes, new float[rows * blocks], zeros);
    }

    [Property(MaxTest = 60, QuietOnSuccess = true)]
    public void PackB_RoundTrips_For2_4_8Bits_AndOddSizes(int seed, byte rowsSeed, byte colsSeed, byte bitsSeed, byte blockSeed)
    {
        int bits = new[] { 2, 4, 8 }[bitsSeed % 3];
        int block = 16 << (blockSeed % 3);
        int rows = 1 + rowsSeed % 5, cols = 1 + colsSeed % 77;
        var q = RandomRows(seed, rows, cols, bits, block);
        int blocks = q.BlockCount, blob = block * bits / 8;

        var packed = MatMulNBitsPacking.PackB(q);

        Assert.Equal(rows * blocks * blob, packed.Length);
        for (int r = 0; r < rows; r++)
            for (int b = 0; b < blocks; b++)
            {
                var codes = MatMulNBitsPacking.Unpack(packed.AsSpan((r * blocks + b) * blob, blob), bits, block);
                for (int i = 0; i < block; i++)
                {
                    int k = b * block + i;
                    // Past K the block is padded with the zero point: a zero weight.
                    int expected = k < cols ? q.Codes[r * cols + k] : q.ZeroPoints[r * blocks + b];
                    Assert.Equal(expected, codes[i]);
                }
            }
        var zp = MatMulNBitsPacking.PackZeroPoints(q);
        int zpRow = (blocks * bits + 7) / 8;
        Assert.Equal(rows * zpRow, zp.Length);
        for (int r = 0; r < rows; r++)
            Assert.Equal(q.ZeroPoints.AsSpan(r * blocks, blocks).ToArray(), MatMulNBitsPacking.Unpack(zp.AsSpan(r * zpRow, zpRow), bits, blocks));
    }

    [Fact]
    public void FourBitCodes_PutTheFirstElementInTheLowNibble()
    {
        var codes = new byte[16];
        codes[0] = 0x3; codes[1] = 0xA;
        var q = new BlockQuantizedRows(1, 16, 4, 16, true, codes, [1f], [8]);
        Assert.Equal(0xA3, MatMulNBitsPacking.PackB(q)[0]);
    }

    [Property(MaxTest = 40, QuietOnSuccess = true)]
    public void RoundToNearest_ReconstructsEveryWeight_WithinHalfAStep(int seed, byte bitsSeed, bool symmetric)
    {
        int bits = 2 + bitsSeed % 7;
        var random = new Random(seed);
        const int Rows = 3, Cols = 37, Block = 16;
        var w = Enumerable.Range(0, Rows * Cols).Select(_ => (float)(random.NextDouble() * 4 - 1.5)).ToArray();

        var grid = new WeightGrid(bits, symmetric ? WeightScaleRule.SignedExtreme : WeightScaleRule.Asymmetric, Block, false, DataType.Float);
        var q = new RoundToNearest().Round(w, Rows, Cols, grid, null);

        for (int r = 0; r < Rows; r++)
            for (int c = 0; c < Cols; c++)
            {
                float step = Math.Abs(q.Scales[r * q.BlockCount + c / Block]);
                // Symmetric codes stop at 2^(b-1) - 1 on the side opposite the extreme: up to one step there.
                float allowed = step * (symmetric ? 1f : 0.5f) * 1.0001f;
                Assert.True(Math.Abs(q.Dequantize(r, c) - w[r * Cols + c]) <= allowed, $"({r},{c}) bits {bits}");
            }
    }
}
