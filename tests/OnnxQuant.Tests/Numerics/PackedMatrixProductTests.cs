using OnnxQuant.Passes.Numerics;

namespace OnnxQuant.Tests.Numerics;

/// <summary>
/// The packed, register-tiled product C += α·A·B against a plain triple loop: every operand layout, edge tiles
/// (sizes that are not multiples of the 6×8 tile or the 256-deep slices), the lower-triangle-only form, and
/// parallel = sequential bit for bit.
/// </summary>
public class PackedMatrixProductTests
{
    private static double[] Random(int length, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, length).Select(_ => random.NextDouble() * 2 - 1).ToArray();
    }

    // (i, j) of a rows×columns operand stored with padding 3 per row (a stride wider than the operand).
    private static PackedMatrixProduct.Operand Store(double[,] values, bool transposed, out double[] data)
    {
        int rows = values.GetLength(0), columns = values.GetLength(1);
        int storedRows = transposed ? columns : rows, storedColumns = transposed ? rows : columns, stride = storedColumns + 3;
        data = new double[5 + storedRows * stride];
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < columns; j++)
                data[5 + (transposed ? j * stride + i : i * stride + j)] = values[i, j];
        return new PackedMatrixProduct.Operand(data, 5, stride, transposed);
    }

    private static double[,] Matrix(int rows, int columns, int seed)
    {
        var flat = Random(rows * columns, seed);
        var m = new double[rows, columns];
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < columns; j++) m[i, j] = flat[i * columns + j];
        return m;
    }

    [Theory]
    [InlineData(1, 1, 1, false, false, 1.0)]
    [InlineData(6, 8, 5, false, false, 1.0)]
    [InlineData(13, 17, 300, false, true, -1.0)]
    [InlineData(100, 9, 257, true, false, 1.0)]
    [InlineData(97, 33, 40, true, true, -1.0)]
    [InlineData(200, 70, 513, false, true, 1.0)]
    public void Product_EqualsTheTripleLoop(int m, int n, int depth, bool aTransposed, bool bTransposed, double alpha)
    {
        var a = Matrix(m, depth, m + depth);
        var b = Matrix(depth, n, n + 7);
        var a1 = Store(a, aTransposed, out _);
        var b1 = Store(b, bTransposed, out _);
        int cStride = n + 2;
        var c = Random(4 + m * cStride, 11);
        var expected = (double[])c.Clone();
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double sum = 0;
                for (int p = 0; p < depth; p++) sum += a[i, p] * b[p, j];
                expected[4 + i * cStride + j] += alpha * sum;
            }
        PackedMatrixProduct.MultiplyAdd(a1, b1, c, 4, cStride, m, n, depth, alpha);
        for (int x = 0; x < c.Length; x++)
            Assert.True(Math.Abs(c[x] - expected[x]) <= 1e-12 * depth, $"entry {x}: {c[x]} vs {expected[x]}");
        // Padding between rows (column ≥ n) and the 4 leading entries are untouched, exactly.
        for (int i = 0; i < m; i++)
            for (int j = n; j < cStride && 4 + i * cStride + j < c.Length; j++) Assert.Equal(expected[4 + i * cStride + j], c[4 + i * cStride + j]);
    }

    [Theory]
    [InlineData(7, 3)]
    [InlineData(50, 256)]
    [InlineData(203, 97)]
    public void LowerOnly_WritesOnlyTheLowerTriangle(int m, int depth)
    {
        var a = Matrix(m, depth, 3);
        var a1 = Store(a, false, out var data);
        var b1 = new PackedMatrixProduct.Operand(data, a1.Offset, a1.Stride, Transposed: true);   // Aᵀ
        var c = Random(m * m, 5);
        var original = (double[])c.Clone();
        PackedMatrixProduct.MultiplyAdd(a1, b1, c, 0, m, m, m, depth, -1, lowerOnly: true);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < m; j++)
            {
                if (j > i)
                {
                    Assert.Equal(original[i * m + j], c[i * m + j]);
                    continue;
                }
                double sum = 0;
                for (int p = 0; p < depth; p++) sum += a[i, p] * a[j, p];
                Assert.True(Math.Abs(c[i * m + j] - (original[i * m + j] - sum)) <= 1e-12 * depth, $"({i},{j})");
            }
    }

    [Fact]
    public void Parallel_EqualsSequential_BitForBit()
    {
        const int m = 500, n = 37, depth = 600;
        var a = new PackedMatrixProduct.Operand(Random(m * depth, 1), 0, depth);
        var b = new PackedMatrixProduct.Operand(Random(depth * n, 2), 0, n);
        var parallel = new double[m * n];
        var sequential = new double[m * n];
        PackedMatrixProduct.MultiplyAdd(a, b, parallel, 0, n, m, n, depth, 1, parallel: true);
        PackedMatrixProduct.MultiplyAdd(a, b, sequential, 0, n, m, n, depth, 1, parallel: false);
        Assert.Equal(sequential.Select(BitConverter.DoubleToInt64Bits), parallel.Select(BitConverter.DoubleToInt64Bits));
    }

    [Fact]
    public void AlphaOtherThanPlusOrMinusOne_IsRefused()
    {
        var a = new PackedMatrixProduct.Operand(new double[4], 0, 2);
        Assert.Throws<ArgumentOutOfRangeException>(() => PackedMatrixProduct.MultiplyAdd(a, a, new double[4], 0, 2, 2, 2, 2, 0.5));
    }
}
