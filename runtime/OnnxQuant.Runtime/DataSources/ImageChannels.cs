namespace OnnxQuant.Runtime.DataSources;

/// <summary>Channel order of preprocessed images (Gray decodes to one luminance channel).</summary>
public enum ImageChannels
{
    Rgb,
    Bgr,
    Gray,
}
