namespace OnnxQuant.Passes.Quantization.Rounding;

/// <summary>The <c>rounding</c> option of the passes that quantize weights: which <see cref="IWeightRounder"/> rounds them.</summary>
public enum WeightRounding
{
    /// <summary>Round-to-nearest (<see cref="RoundToNearest"/>).</summary>
    Rtn,
}

/// <summary>The rounder of each <see cref="WeightRounding"/> choice.</summary>
public static class WeightRounders
{
    public static IWeightRounder For(WeightRounding rounding) => rounding switch
    {
        WeightRounding.Rtn => new RoundToNearest(),
        _ => throw new ArgumentOutOfRangeException(nameof(rounding), rounding, "No rounder for this choice."),
    };
}
