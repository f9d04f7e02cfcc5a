using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace OnnxQuant.Passes.Numerics;

/// <summary>
/// C = A·Bᵀ for 16-bit integer matrices with 32-bit sums: c[r, n] = Σ_j a[r, j]·b[n, j] (A rows × k, B columns × k,
/// both row-major with the same padded length k, a multiple of <see cref="Lanes"/>). Quantization codes times
/// quantization codes: the sums are exact integers, so the AVX-512, AVX2 and scalar paths agree bit for bit and the
/// result does not depend on the order of the additions (unlike a float dot product).
/// </summary>
/// <remarks>
/// The caller keeps every sum within int32: |Σ| ≤ k·max|a|·max|b| &lt; 2³¹ (8-bit codes: k up to 66,000). Blocks of
/// 4 rows × 4 columns keep 16 vector accumulators in registers while k streams past (pmaddwd multiplies adjacent
/// pairs and adds them into 32-bit lanes).
/// </remarks>
internal static class Int16Products
{
    /// <summary>The row length must be a multiple of this (one 512-bit vector of int16).</summary>
    public const int Lanes = 32;

    /// <summary>k rounded up to a multiple of <see cref="Lanes"/> (the padding is zeros, which add nothing).</summary>
    public static int PaddedLength(int k) => (k + Lanes - 1) / Lanes * Lanes;

    /// <summary>c[r·columns + n] = Σ_j a[r·k + j]·b[n·k + j] for rows r in [rowFrom, rowTo).</summary>
    public static void Multiply(ReadOnlySpan<short> a, ReadOnlySpan<short> b, Span<int> c, int rowFrom, int rowTo, int columns, int k)
    {
        if (k % Lanes != 0) throw new ArgumentException($"The row length {k} is not a multiple of {Lanes}.", nameof(k));
        int r = rowFrom;
        if (Avx512BW.IsSupported || Avx2.IsSupported)
        {
            for (; r + 4 <= rowTo; r += 4)
            {
                int n = 0;
                for (; n + 4 <= columns; n += 4)
                    if (Avx512BW.IsSupported) Block4x4Avx512(a, b, c, r, n, columns, k);
                    else Block4x4Avx2(a, b, c, r, n, columns, k);
                for (; n < columns; n++)
                    for (int i = r; i < r + 4; i++) c[i * columns + n] = Dot(a.Slice(i * k, k), b.Slice(n * k, k));
            }
        }
        for (; r < rowTo; r++)
            for (int n = 0; n < columns; n++) c[r * columns + n] = Dot(a.Slice(r * k, k), b.Slice(n * k, k));
    }

    private static int Dot(ReadOnlySpan<short> a, ReadOnlySpan<short> b)
    {
        int sum = 0;
        for (int j = 0; j < a.Length; j++) sum += a[j] * b[j];
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Block4x4Avx512(ReadOnlySpan<short> a, ReadOnlySpan<short> b, Span<int> c, int r, int n, int columns, int k)
    {
        ref short a0 = ref Unsafe.Add(ref MemoryMarshal.GetReference(a), (nint)r * k);
        ref short a1 = ref Unsafe.Add(ref a0, k);
        ref short a2 = ref Unsafe.Add(ref a1, k);
        ref short a3 = ref Unsafe.Add(ref a2, k);
        ref short b0 = ref Unsafe.Add(ref MemoryMarshal.GetReference(b), (nint)n * k);
        ref short b1 = ref Unsafe.Add(ref b0, k);
        ref short b2 = ref Unsafe.Add(ref b1, k);
        ref short b3 = ref Unsafe.Add(ref b2, k);
        Vector512<int> c00 = default, c01 = default, c02 = default, c03 = default, c10 = default, c11 = default, c12 = default, c13 = default;
        Vector512<int> c20 = default, c21 = default, c22 = default, c23 = default, c30 = default, c31 = default, c32 = default, c33 = default;
        for (nuint j = 0; j < (nuint)k; j += 32)
        {
            var w0 = Vector512.LoadUnsafe(ref b0, j); var w1 = Vector512.LoadUnsafe(ref b1, j);
            var w2 = Vector512.LoadUnsafe(ref b2, j); var w3 = Vector512.LoadUnsafe(ref b3, j);
            var x = Vector512.LoadUnsafe(ref a0, j);
            c00 += Avx512BW.MultiplyAddAdjacent(x, w0); c01 += Avx512BW.MultiplyAddAdjacent(x, w1);
            c02 += Avx512BW.MultiplyAddAdjacent(x, w2); c03 += Avx512BW.MultiplyAddAdjacent(x, w3);
            x = Vector512.LoadUnsafe(ref a1, j);
            c10 += Avx512BW.MultiplyAddAdjacent(x, w0); c11 += Avx512BW.MultiplyAddAdjacent(x, w1);
            c12 += Avx512BW.MultiplyAddAdjacent(x, w2); c13 += Avx512BW.MultiplyAddAdjacent(x, w3);
            x = Vector512.LoadUnsafe(ref a2, j);
            c20 += Avx512BW.MultiplyAddAdjacent(x, w0); c21 += Avx512BW.MultiplyAddAdjacent(x, w1);
            c22 += Avx512BW.MultiplyAddAdjacent(x, w2); c23 += Avx512BW.MultiplyAddAdjacent(x, w3);
            x = Vector512.LoadUnsafe(ref a3, j);
            c30 += Avx512BW.MultiplyAddAdjacent(x, w0); c31 += Avx512BW.MultiplyAddAdjacent(x, w1);
            c32 += Avx512BW.MultiplyAddAdjacent(x, w2); c33 += Avx512BW.MultiplyAddAdjacent(x, w3);
        }
        int at = r * columns + n;
        c[at] = Vector512.Sum(c00); c[at + 1] = Vector512.Sum(c01); c[at + 2] = Vector512.Sum(c02); c[at + 3] = Vector512.Sum(c03);
        at += columns;
        c[at] = Vector512.Sum(c10); c[at + 1] = Vector512.Sum(c11); c[at + 2] = Vector512.Sum(c12); c[at + 3] = Vector512.Sum(c13);
        at += columns;
        c[at] = Vector512.Sum(c20); c[at + 1] = Vector512.Sum(c21); c[at + 2] = Vector512.Sum(c22); c[at + 3] = Vector512.Sum(c23);
        at += columns;
        c[at] = Vector512.Sum(c30); c[at + 1] = Vector512.Sum(c31); c[at + 2] = Vector512.Sum(c32); c[at + 3] = Vector512.Sum(c33);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Block4x4Avx2(ReadOnlySpan<short> a, ReadOnlySpan<short> b, Span<int> c, int r, int n, int columns, int k)
    {
        ref short a0 = ref Unsafe.Add(ref MemoryMarshal.GetReference(a), (nint)r * k);
        ref short a1 = ref Unsafe.Add(ref a0, k);
        ref short a2 = ref Unsafe.Add(ref a1, k);
        ref short a3 = ref Unsafe.Add(ref a2, k);
        ref short b0 = ref Unsafe.Add(ref MemoryMarshal.GetReference(b), (nint)n * k);
        ref short b1 = ref Unsafe.Add(ref b0, k);
        ref short b2 = ref Unsafe.Add(ref b1, k);
        ref short b3 = ref Unsafe.Add(ref b2, k);
        Vector256<int> c00 = default, c01 = default, c02 = default, c03 = default, c10 = default, c11 = default, c12 = default, c13 = default;
        Vector256<int> c20 = default, c21 = default, c22 = default, c23 = default, c30 = default, c31 = default, c32 = default, c33 = default;
        for (nuint j = 0; j < (nuint)k; j += 16)
        {
            var w0 = Vector256.LoadUnsafe(ref b0, j); var w1 = Vector256.LoadUnsafe(ref b1, j);
            var w2 = Vector256.LoadUnsafe(ref b2, j); var w3 = Vector256.LoadUnsafe(ref b3, j);
            var x = Vector256.LoadUnsafe(ref a0, j);
            c00 += Avx2.MultiplyAddAdjacent(x, w0); c01 += Avx2.MultiplyAddAdjacent(x, w1);
            c02 += Avx2.MultiplyAddAdjacent(x, w2); c03 += Avx2.MultiplyAddAdjacent(x, w3);
            x = Vector256.LoadUnsafe(ref a1, j);
            c10 += Avx2.MultiplyAddAdjacent(x, w0); c11 += Avx2.MultiplyAddAdjacent(x, w1);
            c12 += Avx2.MultiplyAddAdjacent(x, w2); c13 += Avx2.MultiplyAddAdjacent(x, w3);
            x = Vector256.LoadUnsafe(ref a2, j);
            c20 += Avx2.MultiplyAddAdjacent(x, w0); c21 += Avx2.MultiplyAddAdjacent(x, w1);
            c22 += Avx2.MultiplyAddAdjacent(x, w2); c23 += Avx2.MultiplyAddAdjacent(x, w3);
            x = Vector256.LoadUnsafe(ref a3, j);
            c30 += Avx2.MultiplyAddAdjacent(x, w0); c31 += Avx2.MultiplyAddAdjacent(x, w1);
            c32 += Avx2.MultiplyAddAdjacent(x, w2); c33 += Avx2.MultiplyAddAdjacent(x, w3);
        }
        int at = r * columns + n;
        c[at] = Vector256.Sum(c00); c[at + 1] = Vector256.Sum(c01); c[at + 2] = Vector256.Sum(c02); c[at + 3] = Vector256.Sum(c03);
        at += columns;
        c[at] = Vector256.Sum(c10); c[at + 1] = Vector256.Sum(c11); c[at + 2] = Vector256.Sum(c12); c[at + 3] = Vector256.Sum(c13);
        at += columns;
        c[at] = Vector256.Sum(c20); c[at + 1] = Vector256.Sum(c21); c[at + 2] = Vector256.Sum(c22); c[at + 3] = Vector256.Sum(c23);
        at += columns;
        c[at] = Vector256.Sum(c30); c[at + 1] = Vector256.Sum(c31); c[at + 2] = Vector256.Sum(c32); c[at + 3] = Vector256.Sum(c33);
    }
}
