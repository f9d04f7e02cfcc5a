using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Quantization.Rounding;

/// <summary>
/// The knobs of <see cref="GptqRounder"/>: <paramref name="Damp"/>, the fraction of the mean diagonal of H added to its
/// diagonal before the Cholesky factorization (GPTQ's percdamp); <paramref name="BlockSize"/>, the columns whose
/// errors are propagated within the block before one update of the columns after it (GPTQ's lazy batch, 128);
/// <paramref name="ActOrder"/>, columns in order of decreasing H_ii with static groups (scales from the unquantized
/// weight, so the export's group layout is unchanged).
/// </summary>
public sealed record GptqSettings(double Damp = 0.01, int BlockSize = 128, bool ActOrder = false)
{
    public void Validate(string where)
    {
        if (!(Damp >= 0 && Damp <= 1))
            throw new OnnxQuantException($"{where}: gptq-damp is {Damp}; it must be a fraction from 0 to 1 of H's mean diagonal (default 0.01).");
        if (BlockSize < 1)
            throw new OnnxQuantException($"{where}: gptq-block-size is {BlockSize}; it must be a positive number of columns (default 128).");
    }
}
