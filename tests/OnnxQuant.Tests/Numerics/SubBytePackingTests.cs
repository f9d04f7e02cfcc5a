using OnnxQuant.Ir.Numerics;
using Xunit;

namespace OnnxQuant.Tests.Numerics;

public class SubBytePackingTests
{
    // ONNX int4.md: pack(x, y) = y << 4 | x & 0x0F.
    [Fact]
    public void Pack_4Bit_PutsFirstElementInLowNibble()
    {
        Assert.Equal(new byte[] { 0x21 }, SubBytePacking.Pack([1, 2], 4));
        Assert.Equal(new byte[] { 0x21, 0x43 }, SubBytePacking.Pack([1, 2, 3, 4], 4));
    }

    [Fact]
    public void Pack_4Bit_OddCount_ZeroPadsTheHighNibble()
    {
        Assert.Equal(new byte[] { 0x21, 0x03 }, SubBytePacking.Pack([1, 2, 3], 4));
        Assert.Equal(new byte[] { 0x0F }, SubBytePacking.Pack([-1], 4));
    }

    // ONNX int2.md: pack(x0, x1, x2, x3) = x3 << 6 | x2 << 4 | x1 << 2 | x0.
    [Fact]
    public void Pack_2Bit_FillsFromLeastSignificantBits_AndZeroPads()
    {
        Assert.Equal(new byte[] { 0b00_11_10_01 }, SubBytePacking.Pack([1, 2, 3, 0], 2));
        Assert.Equal(new byte[] { 0b11_10_01_00, 0b00_00_00_01 }, SubBytePacking.Pack([0, 1, 2, 3, 1], 2));
        Assert.Equal(new byte[] { 0b00_11_11_11 }, SubBytePacking.Pack([3, 3, 3], 2));
    }

    [Fact]
    public void Pack_StoresSignedValuesAsTwosComplement()
    {
        Assert.Equal(new byte[] { 0x8F }, SubBytePacking.Pack([-1, -8], 4));
        Assert.Equal(new byte[] { 0b00_01_11_10 }, SubBytePacking.Pack([-2, -1, 1], 2));
    }

    [Fact]
    public void Unpack_SignExtendsOnlyWhenSigned()
    {
        var signed = new int[2];
        var unsigned = new int[2];
        SubBytePacking.Unpack([0x8F], 4, signed: true, signed);
        SubBytePacking.Unpack([0x8F], 4, signed: false, unsigned);
        Assert.Equal([-1, -8], signed);
        Assert.Equal([15, 8], unsigned);

        var signed2 = new int[4];
        SubBytePacking.Unpack([0b01_10_11_00], 2, signed: true, signed2);
        Assert.Equal([0, -1, -2, 1], signed2);
    }

    [Theory]
    [InlineData(2, true)]
    [InlineData(2, false)]
    [InlineData(4, true)]
    [InlineData(4, false)]
    public void PackThenUnpack_RoundTrips_ForOddAndEvenCounts(int bits, bool signed)
    {
        var random = new Random(bits * 10 + (signed ? 1 : 0));
        int min = signed ? -(1 << (bits - 1)) : 0;
        int max = signed ? (1 << (bits - 1)) - 1 : (1 << bits) - 1;
        foreach (int count in new[] { 0, 1, 2, 3, 4, 5, 7, 8, 31, 1001 })
        {
            int[] values = Enumerable.Range(0, count).Select(_ => random.Next(min, max + 1)).ToArray();
            byte[] packed = SubBytePacking.Pack(values, bits);
            Assert.Equal(SubBytePacking.PackedLength(count, bits), packed.Length);

            var unpacked = new int[count];
            SubBytePacking.Unpack(packed, bits, signed, unpacked);
            Assert.Equal(values, unpacked);
        }
    }

    [Theory]
    [InlineData(0, 4, 0)]
    [InlineData(1, 4, 1)]
    [InlineData(3, 4, 2)]
    [InlineData(4, 4, 2)]
    [InlineData(1, 2, 1)]
    [InlineData(4, 2, 1)]
    [InlineData(5, 2, 2)]
    [InlineData(9, 2, 3)]
    public void PackedLength_IsCeilingOfBitsOverEight(long count, int bits, long expected)
    {
        Assert.Equal(expected, SubBytePacking.PackedLength(count, bits));
    }

    [Theory]
    [InlineData(4, 16)]
    [InlineData(4, -9)]
    [InlineData(2, 4)]
    [InlineData(2, -3)]
    public void Pack_RejectsValuesThatDoNotFit(int bits, int value)
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => SubBytePacking.Pack([0, value], bits));
        Assert.Contains("Element 1", error.Message);
        Assert.Contains($"{bits} bits", error.Message);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(8)]
    public void RejectsUnsupportedBitWidths(int bits)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => SubBytePacking.Pack([0], bits));
        Assert.Throws<ArgumentOutOfRangeException>(() => SubBytePacking.PackedLength(1, bits));
        Assert.Throws<ArgumentOutOfRangeException>(() => SubBytePacking.Unpack([0], bits, false, new int[1]));
    }

    [Fact]
    public void Unpack_RejectsTooShortInput()
    {
        Assert.Throws<ArgumentException>(() => SubBytePacking.Unpack([0x21], 4, false, new int[3]));
        Assert.Throws<ArgumentException>(() => SubBytePacking.Unpack([0x21], 2, false, new int[5]));
    }
}
