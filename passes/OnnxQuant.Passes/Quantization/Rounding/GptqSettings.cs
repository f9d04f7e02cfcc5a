using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Quantization.Rounding;

/// <summary>
/// The knobs of <see cref="GptqRounder"/>: <paramref name="Damp"/>, the fraction of the mean diagonal of H added to its
/// diagonal before the Cholesky factorization (GPTQ's percdamp); <paramref name="BlockSize"/>, the columns whose
/// errors are propagated within the block before one update of the columns after it (GPTQ's lazy batch, 128);
/// <paramref name="ActOrder"/>, columns in order of decreasing H_ii with static groups (scales from the unquantized
/// weight, so the export's group layout is unchanged); <paramref name="RefitScales"/>, after rounding re-solve each
/// row's scales (and integer zero points) by least squares toward the float layer output, codes kept
/// (<see cref="LeastSquaresScaleRefit"/>); <paramref name="RowTile"/>, rows rounded together so that each read of the
/// inverse Hessian's factor serves that many rows (speed only: the results do not depend on it).
/// </summary>
public sealed record GptqSettings(double Damp = 0.01, int BlockSize = 128, bool ActOrder = false, bool RefitScales = false, int RowTile = 16)
{
    public void Validate(string where)
    {
        if (!(Damp >= 0 && Damp <= 1))
            throw new OnnxQuantException($"{where}: gptq-damp is {Damp}; it must be a fraction from 0 to 1 of H's mean diagonal (default 0.01).");
        if (RowTile < 1)
            throw new OnnxQuantException($"{where}: the GPTQ row tile is {RowTile}; it must be a positive number of rows (default 16).");
        if (BlockSize < 1)
            throw new OnnxQuantException($"{where}: gptq-block-size is {BlockSize}; it must be a positive number of columns (default 128).");
    }
}
