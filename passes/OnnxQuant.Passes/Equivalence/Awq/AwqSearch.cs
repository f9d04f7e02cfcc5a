using System.Numerics.Tensors;
using OnnxQuant.Passes.Numerics;
using OnnxQuant.Passes.Quantization;
using OnnxQuant.Passes.Quantization.Rounding;

namespace OnnxQuant.Passes.Equivalence.Awq;

/// <summary>
/// The arithmetic of <see cref="AwqPass"/>: candidate scales, the output error of a group's layers under a candidate,
/// and the per-block clip search. The output error of a layer y = x·B over the calibration tokens is computed from
/// the calibrated H = XᵀX (K×K): Σ_tokens ‖x·(B − B̂)‖² = Σ_n d_nᵀ·H·d_n, d_n = column n of B − B̂, exactly what the
/// paper's loss over the cached tokens is (up to the token count), without keeping the tokens.
/// </summary>
internal static class AwqSearch
{
    /// <summary>The paper's lower bound on s before normalization.</summary>
    public const double MinScale = 1e-4;

    /// <summary>s_j = max(mean|x_j|^α, 1e-4), divided by √(max s · min s) so the scales centre on 1 (α = 0: all 1).</summary>
    public static float[] Scales(double[] meanAbs, double alpha)
    {
        var s = new double[meanAbs.Length];
        for (int j = 0; j < s.Length; j++) s[j] = Math.Max(Math.Pow(meanAbs[j], alpha), MinScale);
        double norm = Math.Sqrt(s.Max() * s.Min());
        return s.Select(v => (float)(v / norm)).ToArray();
    }

    /// <summary>Σ over the group's quantized layers of Σ_n d_nᵀ·H·d_n with d = alpha·B − Q(alpha·B·diag(s))·diag(s)⁻¹
    /// (rows as the quantizer rounds them, round to nearest on its grid).</summary>
    /// <remarks>
    /// The products d·H run as a blocked matrix product (<see cref="PackedMatrixProduct"/>) over chunks of rows: one
    /// row at a time, every row streamed all of H (K² doubles, 52 MB at K = 2560) from memory, and the search of one
    /// large layer took minutes. Each row's error is then Σ_j (d·H)_j·d_j, and the rows are added in order, so the
    /// result does not depend on the thread count. With <paramref name="factor"/> (H = FᵀF of rank r ≤ K/2) it is
    /// ‖F·d‖², N·K·r instead of N·K² (equal up to rounding).
    /// </remarks>
    public static double OutputError(double[] h, IReadOnlyList<AwqLayer> layers, float[] s, LowRankSecondMoment? factor = null)
    {
        double total = 0;
        foreach (var layer in layers)
        {
            if (layer.Grid is not { } grid) continue;
            int n = layer.N, k = layer.K;
            var scaled = layer.ScaledForQuantizer(s);
            var q = Rtn.Round(scaled, n, k, grid, layer.Layer);
            int chunk = (int)Math.Clamp(ChunkValues / k, 1, n);
            var d = new double[(long)chunk * k];
            var dh = new double[(long)chunk * k];
            for (int r0 = 0; r0 < n; r0 += chunk)
            {
                int m = Math.Min(chunk, n - r0);
                Parallel.For(0, m, i =>
                {
                    long at = (long)i * k, row = (long)(r0 + i) * k;
                    for (int j = 0; j < k; j++)
                        d[at + j] = (double)layer.Alpha * layer.Rows[row + j] - (double)q.Dequantize(r0 + i, j) / s[j];
                });
                if (factor is { Rank: var r })
                {
                    // ‖F·d‖² per row: (d·Fᵀ) is m × r.
                    Array.Clear(dh, 0, m * r);
                    PackedMatrixProduct.MultiplyAdd(new(d, 0, k), new(factor.Rows, 0, k, Transposed: true), dh, 0, r, m, r, k, 1);
                    for (int i = 0; i < m; i++)
                        total += TensorPrimitives.Dot(new ReadOnlySpan<double>(dh, i * r, r), new ReadOnlySpan<double>(dh, i * r, r));
                    continue;
                }
                Array.Clear(dh, 0, m * k);
                PackedMatrixProduct.MultiplyAdd(new(d, 0, k), new(h, 0, k), dh, 0, k, m, k, k, 1);
                for (int i = 0; i < m; i++)
                    total += TensorPrimitives.Dot(new ReadOnlySpan<double>(dh, i * k, k), new ReadOnlySpan<double>(d, i * k, k));
            }
        }
        return total;
    }

    /// <summary>Rows of d per product in <see cref="OutputError"/>: about 2²² doubles (32 MB) for d and as much for d·H.</summary>
    private const long ChunkValues = 1L << 22;

    private static readonly RoundToNearest Rtn = new();

    /// <summary>dᵀ·H·d over the index range [start, end) of d (H K×K row-major, symmetric). The inner products are
    /// SIMD (<see cref="TensorPrimitives.Dot(ReadOnlySpan{double}, ReadOnlySpan{double})"/>): this is the search's cost.</summary>
    private static double Quadratic(double[] h, int k, double[] d, int start, int end)
    {
        double sum = 0;
        var slice = new ReadOnlySpan<double>(d, start, end - start);
        for (int i = start; i < end; i++)
        {
            if (d[i] == 0) continue;
            sum += d[i] * TensorPrimitives.Dot(new ReadOnlySpan<double>(h, i * k + start, end - start), slice);
        }
        return sum;
    }

    /// <summary>The clip ratios tried: 1 − i/20 for i = 0 … ⌈20·maxShrink⌉ − 1 (0.5: 1, 0.95, …, 0.55).</summary>
    public static double[] ClipRatios(double maxShrink) =>
        Enumerable.Range(0, Math.Max(1, (int)Math.Round(20 * maxShrink))).Select(i => 1 - i / 20.0).ToArray();

    /// <summary>
    /// Per row and block of <paramref name="rows"/> (the weight as the quantizer reads it, [n, k]), the clip ratio r
    /// whose block, clamped to ±r·max|w| and rounded on <paramref name="grid"/>, has the least error dᵀ·H_bb·d against
    /// the unclamped block (H of the layer's input as it is then, diagonal block only: the paper's per-group loss);
    /// clamps the block in place when r &lt; 1. Returns how many blocks were clamped.
    /// </summary>
    public static int Clip(float[] rows, int n, int k, WeightGrid grid, double[] h, double[] ratios)
    {
        int blockSize = grid.BlockSize, blocks = grid.BlockCount(k);
        var clamped = new int[n];
        Parallel.For(0, n, r =>
        {
            var d = new double[k];
            var candidate = new float[blockSize];
            var best = new float[blockSize];
            for (int b = 0; b < blocks; b++)
            {
                int start = b * blockSize, end = Math.Min(k, start + blockSize), len = end - start;
                var v = new ReadOnlySpan<float>(rows, r * k + start, len);
                float max = 0;
                foreach (float w in v) max = Math.Max(max, Math.Abs(w));
                if (max == 0) continue;
                double bestError = double.PositiveInfinity;
                double bestRatio = 1;
                foreach (double ratio in ratios)
                {
                    float limit = (float)(ratio * max);
                    float lo = 0, hi = 0, extreme = 0;
                    for (int i = 0; i < len; i++)
                    {
                        float c = Math.Clamp(v[i], -limit, limit);
                        candidate[i] = c;
                        lo = Math.Min(lo, c);
                        hi = Math.Max(hi, c);
                        if (Math.Abs(c) > Math.Abs(extreme)) extreme = c;
                    }
                    var (scale, zero) = grid.ScaleFor(lo, hi, extreme);
                    for (int i = 0; i < len; i++)
                        d[start + i] = v[i] - (double)(QdqMath.Quantize(candidate[i], scale, zero, grid.MinCode, grid.MaxCode) - zero) * scale;
                    double error = Quadratic(h, k, d, start, end);
                    if (error < bestError)
                    {
                        (bestError, bestRatio) = (error, ratio);
                        candidate.AsSpan(0, len).CopyTo(best);
                    }
                }
                if (bestRatio < 1)
                {
                    best.AsSpan(0, len).CopyTo(rows.AsSpan(r * k + start, len));
                    clamped[r]++;
                }
            }
        });
        return clamped.Sum();
    }
}
