using OnnxQuant.Ir;

namespace OnnxQuant.Runtime.Evaluation;

/// <summary>Accumulates per-sample PSNR of both models' first output against the sample's first input (running sums only).</summary>
internal sealed class PsnrScorer
{
    private int _samples;
    private double _floatSum, _quantSum, _quantMin = double.PositiveInfinity;

    public void Add(Tensor input, Tensor floatOutput, Tensor quantOutput)
    {
        if (input.ElementCount != floatOutput.ElementCount)
            throw new OnnxQuantException($"--task psnr compares the last model's first output with the first model's first input; they have shapes [{string.Join(",", floatOutput.Dims)}] and [{string.Join(",", input.Dims)}]. "
                + "Evaluate an autoencoder (use --then DECODER_FLOAT DECODER_QUANT after the encoders) or a model whose output is an image of its input's size.");
        var x = FloatValues.Of(input);
        double f = Psnr.Of(x, FloatValues.Of(floatOutput)), q = Psnr.Of(x, FloatValues.Of(quantOutput));
        _samples++;
        _floatSum += f;
        _quantSum += q;
        _quantMin = Math.Min(_quantMin, q);
    }

    public PsnrResult Result()
    {
        double f = _samples == 0 ? 0 : _floatSum / _samples, q = _samples == 0 ? 0 : _quantSum / _samples;
        return new PsnrResult(_samples, f, q, f - q, _samples == 0 ? 0 : _quantMin);
    }
}
