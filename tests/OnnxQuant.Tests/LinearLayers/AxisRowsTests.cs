using FsCheck.Xunit;
using OnnxQuant.Passes.LinearLayers;

namespace OnnxQuant.Tests.LinearLayers;

public class AxisRowsTests
{
    [Property(MaxTest = 60)]
    public void RowsHoldEveryElementOfItsAxisIndex_AndGoBackToTheStoredLayout(byte d0, byte d1, byte d2, byte d3, byte axisSeed, bool batched)
    {
        long[] dims = [1 + d0 % 3, 1 + d1 % 4, 1 + d2 % 3, 1 + d3 % 2];
        int batchDims = batched ? 1 : 0;
        int axis = batchDims + axisSeed % (dims.Length - batchDims);
        var stored = Enumerable.Range(0, (int)dims.Aggregate(1L, (a, b) => a * b)).ToArray();
        var layout = AxisRows.Of(dims, axis, batchDims);

        var rows = layout.ToRows<int>(stored);

        // Element (i0, i1, i2, i3) lands in row (batch index, axis index), in stored order within the row.
        var strides = new long[] { dims[1] * dims[2] * dims[3], dims[2] * dims[3], dims[3], 1 };
        for (int r = 0; r < layout.RowCount; r++)
        {
            long batch = batchDims == 1 ? r / dims[axis] : 0, channel = r % dims[axis];
            var expected = stored.Where(i => (batchDims == 0 || i / strides[0] == batch) && i / strides[axis] % dims[axis] == channel).ToArray();
            Assert.Equal(expected, rows.Skip(r * (int)layout.RowLength).Take((int)layout.RowLength));
        }
        Assert.Equal(stored, layout.ToStored<int>(rows));
    }

    [Theory]
    [InlineData(0, 70, 45)]
    [InlineData(1, 33, 100)]
    public void MatricesLargerThanATile_TransposeExactly(int batchDims, int k, int n)
    {
        // A MatMul's [K, N] (or a batch of them) is transposed in tiles: sizes that are no multiple of the tile.
        long[] dims = batchDims == 1 ? [2, k, n] : [k, n];
        int g = batchDims == 1 ? 2 : 1;
        var stored = Enumerable.Range(0, g * k * n).ToArray();
        var layout = AxisRows.Of(dims, batchDims + 1, batchDims);

        var rows = layout.ToRows<int>(stored);

        for (int b = 0; b < g; b++)
            for (int j = 0; j < k; j++)
                for (int c = 0; c < n; c++)
                    Assert.Equal(stored[(b * k + j) * n + c], rows[(b * n + c) * k + j]);
        Assert.Equal(stored, layout.ToStored<int>(rows));
    }

    [Fact]
    public void AxisMinusOne_IsOneRowOfTheWholeTensor()
    {
        var layout = AxisRows.Of([2, 3, 4], -1);
        Assert.Equal((1L, 24L), (layout.RowCount, layout.RowLength));
    }
}
