namespace OnnxQuant.Passes.Calibration.Ranges;

/// <summary>A calibrated range [Min, Max] (before widening to include 0, which <see cref="QuantParams"/> does).</summary>
public readonly record struct TensorRange(double Min, double Max)
{
    public double AbsMax => Math.Max(Math.Abs(Min), Math.Abs(Max));
    public double Width => Max - Min;
    public static TensorRange Symmetric(double absMax) => new(-absMax, absMax);
    public override string ToString() => $"[{Min:G6}, {Max:G6}]";
}
