namespace OnnxQuant.Runtime.Evaluation;

/// <summary>Index of the largest value; the first one on ties (NumPy's convention), NaN never wins.</summary>
public static class ArgMax
{
    public static int Of(ReadOnlySpan<float> values)
    {
        if (values.IsEmpty) throw new ArgumentException("No values to take the arg-max of.", nameof(values));
        int best = 0;
        for (int i = 1; i < values.Length; i++)
            if (values[i] > values[best] || float.IsNaN(values[best])) best = i;
        return best;
    }
}
