using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace OnnxQuant.Passes.Quantization.Rounding;

/// <summary>
/// GPTQ's lazy batch update (Frantar et al. 2022, §"Lazy batch-updates"): after a block of columns [start, end) is
/// rounded, every later column of every row in a tile moves by the block's scaled errors,
/// w_t[l] −= Σ_j e_t[j]·U[j, l] for j in the block and l ≥ end. That is a rank-(end − start) update, most of GPTQ's
/// arithmetic (≈ K²/2 multiply-subtracts per row).
/// </summary>
/// <remarks>
/// Results equal the axpy form it replaces (one pass over the row per column j) bit for bit: each w_t[l] receives
/// the same subtractions w ← w − round(e·u), in the same order of j, as a separate multiply and subtract (never a fused
/// multiply-add, which would round once instead of twice). Only the loop order differs: 4 rows × 8 columns of w stay
/// in registers while the block's U rows stream past, so U is read once per 4 rows and w once per block instead of
/// once per column.
/// </remarks>
internal static class GptqLazyBatchUpdate
{
    /// <summary>w[t][end..] −= Σ_{j ∈ [start, end)} errors[t][j − start] · u[j·k + end..] for every row t of the tile.</summary>
    public static void Apply(double[][] w, double[][] errors, double[] u, int k, int start, int end)
    {
        int count = w.Length, t0 = 0;
        if (Vector256.IsHardwareAccelerated)
            for (; t0 + 4 <= count; t0 += 4)
            {
                int l = end;
                for (; l + 8 <= k; l += 8) Rows4x8(w, errors, u, k, start, end, t0, l);
                for (; l + 4 <= k; l += 4) Rows4x4(w, errors, u, k, start, end, t0, l);
                for (int t = t0; t < t0 + 4; t++) Scalar(w[t], errors[t], u, k, start, end, l);
            }
        for (int t = t0; t < count; t++) Scalar(w[t], errors[t], u, k, start, end, end);
    }

    private static void Scalar(double[] w, double[] e, double[] u, int k, int start, int end, int from)
    {
        for (int l = from; l < k; l++)
        {
            double v = w[l];
            for (int j = start; j < end; j++) v -= e[j - start] * u[(long)j * k + l];
            w[l] = v;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Rows4x8(double[][] w, double[][] errors, double[] u, int k, int start, int end, int t0, int l)
    {
        ref double w0 = ref MemoryMarshal.GetArrayDataReference(w[t0]);
        ref double w1 = ref MemoryMarshal.GetArrayDataReference(w[t0 + 1]);
        ref double w2 = ref MemoryMarshal.GetArrayDataReference(w[t0 + 2]);
        ref double w3 = ref MemoryMarshal.GetArrayDataReference(w[t0 + 3]);
        ref double e0 = ref MemoryMarshal.GetArrayDataReference(errors[t0]);
        ref double e1 = ref MemoryMarshal.GetArrayDataReference(errors[t0 + 1]);
        ref double e2 = ref MemoryMarshal.GetArrayDataReference(errors[t0 + 2]);
        ref double e3 = ref MemoryMarshal.GetArrayDataReference(errors[t0 + 3]);
        nuint at = (nuint)l;
        var a00 = Vector256.LoadUnsafe(ref w0, at); var a01 = Vector256.LoadUnsafe(ref w0, at + 4);
        var a10 = Vector256.LoadUnsafe(ref w1, at); var a11 = Vector256.LoadUnsafe(ref w1, at + 4);
        var a20 = Vector256.LoadUnsafe(ref w2, at); var a21 = Vector256.LoadUnsafe(ref w2, at + 4);
        var a30 = Vector256.LoadUnsafe(ref w3, at); var a31 = Vector256.LoadUnsafe(ref w3, at + 4);
        ref double us = ref MemoryMarshal.GetArrayDataReference(u);
        for (int j = start; j < end; j++)
        {
            ref double row = ref Unsafe.Add(ref us, (nint)j * k + l);
            var u0 = Vector256.LoadUnsafe(ref row);
            var u1 = Vector256.LoadUnsafe(ref row, 4);
            nint e = j - start;
            var f = Vector256.Create(Unsafe.Add(ref e0, e));
            a00 -= f * u0; a01 -= f * u1;
            f = Vector256.Create(Unsafe.Add(ref e1, e));
            a10 -= f * u0; a11 -= f * u1;
            f = Vector256.Create(Unsafe.Add(ref e2, e));
            a20 -= f * u0; a21 -= f * u1;
            f = Vector256.Create(Unsafe.Add(ref e3, e));
            a30 -= f * u0; a31 -= f * u1;
        }
        a00.StoreUnsafe(ref w0, at); a01.StoreUnsafe(ref w0, at + 4);
        a10.StoreUnsafe(ref w1, at); a11.StoreUnsafe(ref w1, at + 4);
        a20.StoreUnsafe(ref w2, at); a21.StoreUnsafe(ref w2, at + 4);
        a30.StoreUnsafe(ref w3, at); a31.StoreUnsafe(ref w3, at + 4);
    }

    private static void Rows4x4(double[][] w, double[][] errors, double[] u, int k, int start, int end, int t0, int l)
    {
        ref double us = ref MemoryMarshal.GetArrayDataReference(u);
        for (int t = t0; t < t0 + 4; t++)
        {
            ref double wt = ref MemoryMarshal.GetArrayDataReference(w[t]);
            var a = Vector256.LoadUnsafe(ref wt, (nuint)l);
            var e = errors[t];
            for (int j = start; j < end; j++)
                a -= Vector256.Create(e[j - start]) * Vector256.LoadUnsafe(ref Unsafe.Add(ref us, (nint)j * k + l));
            a.StoreUnsafe(ref wt, (nuint)l);
        }
    }
}
