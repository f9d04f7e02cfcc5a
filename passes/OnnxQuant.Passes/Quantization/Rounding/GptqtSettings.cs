using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Quantization.Rounding;

/// <summary>
/// The knobs of <see cref="GptqtRounder"/>: <paramref name="Planes"/> binary planes per weight (the final bits per
/// weight, 1 … 4); <paramref name="LinearBits"/>, the wider linear grid GPTQ rounds to first (more than the planes,
/// at most 8); <paramref name="Gptq"/>, GPTQ's own knobs for that first step; <paramref name="ScaleFactors"/>, the
/// multiples of each group's min/max range tried for the linear grid (the scale re-exploration; per output channel the
/// one with the least layer output error after the conversion is kept).
/// </summary>
public sealed record GptqtSettings(int Planes, int LinearBits, GptqSettings Gptq, IReadOnlyList<double> ScaleFactors)
{
    /// <summary>0.6 … 1.1 in steps of 0.05.</summary>
    public static readonly IReadOnlyList<double> DefaultScaleFactors = Enumerable.Range(0, 11).Select(i => Math.Round(0.6 + 0.05 * i, 2)).ToArray();

    public void Validate(string where)
    {
        Gptq.Validate(where);
        if (Planes is < 1 or > BinaryCoding.MaxPlanes)
            throw new OnnxQuantException($"{where}: rounding: gptqt codes each weight in 'bits' binary planes; bits is {Planes}, it must be 1 to {BinaryCoding.MaxPlanes}.");
        if (LinearBits <= Planes || LinearBits > 8)
            throw new OnnxQuantException($"{where}: gptqt-linear-bits is {LinearBits}; GPTQT first rounds to a wider linear grid, so it must be more than bits ({Planes}) and at most 8 (e.g. {Planes + 1}).");
        if (ScaleFactors.Count == 0 || ScaleFactors.Any(f => !(f > 0 && f <= 4)))
            throw new OnnxQuantException($"{where}: the gptqt scale factors must be a non-empty list of numbers in (0, 4].");
    }
}
