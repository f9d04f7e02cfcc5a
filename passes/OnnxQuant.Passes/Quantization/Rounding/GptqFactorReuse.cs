using System.Runtime.CompilerServices;

namespace OnnxQuant.Passes.Quantization.Rounding;

/// <summary>
/// Layers that read one input (q, k and v; gate and up) share its Hessian, so GPTQ's O(K³) preparation of it (dead
/// inputs, act-order, damping, the Cholesky factor of the inverse: <see cref="GptqHessian.Factor"/>) is done once and
/// reused. The rounder keeps the latest XᵀX it was given with the Hessian made from it (<see cref="HessianOf"/>), and the
/// factor hangs off that Hessian array in a weak table, so it lives as long as the Hessian is in use: one Hessian and
/// its factor are held at a time, as before. Results are unchanged: the reused factor is the one a fresh
/// preparation computes from the same values.
/// With <c>scaleInPlace</c> (the caller hands over each XᵀX array and never reads it again), H is made by scaling
/// XᵀX in place: one K×K array instead of two (254 MB less at K = 5632), the same values (each entry gets the same
/// single multiplication).
/// </summary>
internal sealed class GptqFactorReuse(bool scaleInPlace = false)
{
    // Only Hessians made here are keys: their contents never change, while an array a caller passes in may be edited
    // between calls (so those are always factored afresh).
    private static readonly ConditionalWeakTable<double[], StrongBox<GptqHessian.Factored?>> Factors = new();
    private readonly Lock _gate = new();
    private double[]? _secondMoment;
    private long _rows;
    private double[]? _hessian;

    /// <summary>H = 2·XᵀX/n, the same array while the rounder is given the same XᵀX array with the same n.</summary>
    public double[] HessianOf(double[] secondMoment, long rows)
    {
        lock (_gate)
        {
            if (!ReferenceEquals(secondMoment, _secondMoment) || rows != _rows)
            {
                (_secondMoment, _hessian) = (null, null);
                _hessian = scaleInPlace ? GptqRounder.ScaleToHessian(secondMoment, rows) : GptqRounder.Hessian(secondMoment, rows);
                Factors.Add(_hessian, new StrongBox<GptqHessian.Factored?>());
                (_secondMoment, _rows) = (secondMoment, rows);
            }
            return _hessian!;
        }
    }

    /// <summary>The factor of <paramref name="hessian"/> for these settings, prepared once per Hessian array.</summary>
    public static GptqHessian.Factored FactorOf(double[] hessian, int k, bool actOrder, double damp)
    {
        if (!Factors.TryGetValue(hessian, out var box)) return GptqHessian.Factor(hessian, k, actOrder, damp);
        lock (box)
        {
            if (box.Value is { } known && known.ActOrder == actOrder && known.Damp.Equals(damp) && known.H.Length == hessian.Length) return known;
            return box.Value = GptqHessian.Factor(hessian, k, actOrder, damp);
        }
    }
}
