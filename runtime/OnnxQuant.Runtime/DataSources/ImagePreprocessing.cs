using OnnxQuant.Ir;

namespace OnnxQuant.Runtime.DataSources;

/// <summary>
/// How images become model inputs, in this order: decode (RGB, or gray), resize the shorter side to
/// <see cref="ResizeShorterSide"/> keeping the aspect ratio, or resize to exactly <see cref="ResizeHeight"/> ×
/// <see cref="ResizeWidth"/> (bilinear; antialiased when shrinking, as PIL's BILINEAR), centre-crop to
/// <see cref="CropHeight"/> × <see cref="CropWidth"/>, centre-crop height and width down to a multiple of
/// <see cref="MultipleOf"/>, then value = (pixel·<see cref="Scale"/> − mean[c]) / std[c],
/// channel order, layout, element type (integer types round half to even and saturate).
/// </summary>
public sealed record ImagePreprocessing
{
    public int? ResizeShorterSide { get; init; }
    public int? ResizeHeight { get; init; }
    public int? ResizeWidth { get; init; }
    public int? CropHeight { get; init; }
    public int? CropWidth { get; init; }

    /// <summary>
    /// Centre-crop height and width down to a multiple of this (e.g. 8), for models with free height and width that
    /// take only such sizes (an encoder that halves the size three times); images then keep their own sizes otherwise.
    /// </summary>
    public int? MultipleOf { get; init; }

    /// <summary>Multiplies the 0–255 pixel values first (1/255 maps them to [0, 1]).</summary>
    public double Scale { get; init; } = 1.0 / 255;

    /// <summary>One value, or one per channel (in the output channel order).</summary>
    public IReadOnlyList<double> Mean { get; init; } = [0.0];

    public IReadOnlyList<double> Std { get; init; } = [1.0];
    public ImageChannels Channels { get; init; } = ImageChannels.Rgb;
    public ImageLayout Layout { get; init; } = ImageLayout.Nchw;
    public DataType ElementType { get; init; } = DataType.Float;

    /// <summary>The model input the images feed; null for the model's only input.</summary>
    public string? Input { get; init; }

    /// <summary>ImageNet's usual preprocessing: shorter side 256, centre crop 224, RGB mean/std, NCHW float.</summary>
    public static ImagePreprocessing ImageNet { get; } = new()
    {
        ResizeShorterSide = 256,
        CropHeight = 224,
        CropWidth = 224,
        Mean = [0.485, 0.456, 0.406],
        Std = [0.229, 0.224, 0.225],
    };
}
