namespace OnnxQuant.Runtime.Evaluation;

/// <summary>
/// Reconstruction quality of both models (<see cref="EvalTask.Psnr"/>): the mean over samples of each sample's PSNR
/// (<see cref="Psnr.Of"/>) between the first output and the first input, in dB. <see cref="DropDb"/> = float − quantized;
/// <see cref="QuantMinDb"/> is the quantized model's worst sample.
/// </summary>
public sealed record PsnrResult(int Samples, double FloatDb, double QuantDb, double DropDb, double QuantMinDb);
