namespace OnnxQuant.DemoModels;

/// <summary>Shape of a generated vision transformer.</summary>
public sealed record VitConfig(int ImageSize, int PatchSize, int Channels, int Width, int Layers, int Heads, int MlpWidth, int Classes)
{
    /// <summary>A tiny ViT (~80k parameters, well under 1 MB) for the README's first command and quick tests.</summary>
    public static VitConfig Tiny { get; } = new(32, 8, 3, 64, 2, 4, 128, 10);

    /// <summary>ViT-B/16: 224×224, width 768, 12 layers, 12 heads, MLP 3072, 1000 classes (86M parameters).</summary>
    public static VitConfig B16 { get; } = new(224, 16, 3, 768, 12, 12, 3072, 1000);

    /// <summary>
    /// Channels of every LayerNorm output given a 10–50× larger scale (γ and β times a seeded factor; the next linear
    /// layer's weight rows divided by it, so the float function is unchanged): the outlier channels real ViTs have
    /// (RepQ-ViT, Fig. 1), which per-tensor activation quantization cannot represent. 0: none.
    /// </summary>
    public int OutlierChannels { get; init; }

    public int Patches => (ImageSize / PatchSize) * (ImageSize / PatchSize);
    public int Tokens => Patches + 1;
    public int HeadDim => Width / Heads;
}
