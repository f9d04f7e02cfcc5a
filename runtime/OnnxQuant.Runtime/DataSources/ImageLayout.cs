namespace OnnxQuant.Runtime.DataSources;

/// <summary>Axis order of an image tensor: channels first (NCHW) or last (NHWC).</summary>
public enum ImageLayout
{
    Nchw,
    Nhwc,
}
