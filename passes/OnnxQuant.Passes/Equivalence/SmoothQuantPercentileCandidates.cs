namespace OnnxQuant.Passes.Equivalence;

/// <summary>
/// The few values of sampled activation rows x (rows × K) a percentile range of x/s can depend on, kept per channel
/// once, so that each α of the search selects among K·m values instead of rows·K. Exact: the q-quantile of the n = rows·K
/// values of x/s (linearly interpolated between the i-th and (i+1)-th smallest, as <see cref="SmoothQuantQuantizer"/>
/// computes it) only needs those two order statistics; dividing a channel by a positive s_j keeps the order of its
/// values, so the i+2 smallest values overall are among the i+2 smallest of each channel (and the n−i largest among the
/// n−i largest of each). Which side is kept is whichever needs fewer values; with |x| (symmetric ranges) the same holds
/// for |x|/s.
/// </summary>
internal sealed class SmoothQuantPercentileCandidates
{
    private readonly float[] _values; // channel j's kept values at [j·_perChannel, (j+1)·_perChannel)
    private readonly int _perChannel;
    private readonly int _channels;
    private readonly long _count;
    private readonly long _offset; // global rank of the candidates' smallest: 0 (low side) or n − candidates (high side)
    private readonly double _at;
    private readonly float[] _scratch;

    /// <param name="x">Rows of the activation (each K long).</param>
    /// <param name="quantile">q in [0, 1].</param>
    /// <param name="absolute">Quantile of |x| rather than x.</param>
    public SmoothQuantPercentileCandidates(float[][] x, double quantile, bool absolute)
    {
        _channels = x[0].Length;
        int rows = x.Length;
        _count = (long)rows * _channels;
        _at = Math.Clamp(quantile, 0, 1) * (_count - 1);
        long i = (long)Math.Floor(_at);
        long lowNeed = i + 2, highNeed = _count - i;
        bool low = lowNeed <= highNeed;
        _perChannel = (int)Math.Min(rows, low ? lowNeed : highNeed);
        _offset = low ? 0 : _count - (long)_perChannel * _channels;
        _values = new float[(long)_perChannel * _channels];
        var column = new float[rows];
        for (int j = 0; j < _channels; j++)
        {
            for (int r = 0; r < rows; r++) column[r] = absolute ? Math.Abs(x[r][j]) : x[r][j];
            Array.Sort(column);
            Array.Copy(column, low ? 0 : rows - _perChannel, _values, (long)j * _perChannel, _perChannel);
        }
        _scratch = new float[_values.Length];
    }

    /// <summary>The quantile of x/s (or |x|/s): the same value a selection over all rows·K values of x[r][j] / s[j] gives.</summary>
    public double Quantile(float[] s)
    {
        for (int j = 0; j < _channels; j++)
        {
            float sj = s[j];
            int from = j * _perChannel;
            for (int m = 0; m < _perChannel; m++) _scratch[from + m] = _values[from + m] / sj;
        }
        long i = (long)Math.Floor(_at);
        int local = checked((int)(i - _offset));
        float lowValue = SmoothQuantQuantizer.Select(_scratch, local);
        if (i + 1 >= _count) return lowValue;
        float next = float.PositiveInfinity;
        for (int r = local + 1; r < _scratch.Length; r++) next = Math.Min(next, _scratch[r]);
        return lowValue + (_at - i) * (next - lowValue);
    }
}
