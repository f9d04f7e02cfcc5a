namespace OnnxQuant.Runtime.Evaluation;

/// <summary>
/// Streaming error statistics of a test tensor y against a reference x, accumulated over any number of samples:
/// SQNR = 10·log10(Σx² / Σ(x−y)²) dB, cosine similarity Σxy / √(Σx²·Σy²) and max |x−y|, where the sums run over
/// every element of every sample (as if all samples were one long vector). Sums are kept in double so that
/// thousands of samples do not lose the small error terms.
/// </summary>
public sealed class ErrorStatistics
{
    private double _signal, _error, _cross, _test;

    /// <summary>Elements accumulated.</summary>
    public long Count { get; private set; }

    /// <summary>Samples accumulated (calls to <see cref="Add"/>).</summary>
    public int Samples { get; private set; }

    /// <summary>Σx² (reference energy).</summary>
    public double SignalEnergy => _signal;

    /// <summary>Σ(x−y)² (error energy).</summary>
    public double ErrorEnergy => _error;

    public double MaxAbsError { get; private set; }

    /// <summary>
    /// In dB; +∞ when the error is zero (identical outputs), −∞ when the reference is all zeros but the test is not,
    /// NaN when both are all zeros.
    /// </summary>
    public double SqnrDb => _error == 0
        ? (_signal == 0 ? double.NaN : double.PositiveInfinity)
        : 10 * Math.Log10(_signal / _error);

    /// <summary>1 when both are all zeros (identical), 0 when exactly one is.</summary>
    public double Cosine
    {
        get
        {
            if (_signal == 0 && _test == 0) return 1;
            if (_signal == 0 || _test == 0) return 0;
            return _cross / Math.Sqrt(_signal * _test);
        }
    }

    public void Add(ReadOnlySpan<float> reference, ReadOnlySpan<float> test)
    {
        if (reference.Length != test.Length)
            throw new ArgumentException($"The reference has {reference.Length} elements, the test {test.Length}.", nameof(test));
        double signal = 0, error = 0, cross = 0, testEnergy = 0, max = MaxAbsError;
        for (int i = 0; i < reference.Length; i++)
        {
            double x = reference[i], y = test[i], d = x - y;
            signal += x * x;
            error += d * d;
            cross += x * y;
            testEnergy += y * y;
            double a = Math.Abs(d);
            // NaN in either output makes the comparison meaningless; keep it visible rather than skipping it.
            if (a > max || double.IsNaN(a)) max = a;
        }
        _signal += signal;
        _error += error;
        _cross += cross;
        _test += testEnergy;
        MaxAbsError = max;
        Count += reference.Length;
        Samples++;
    }
}
