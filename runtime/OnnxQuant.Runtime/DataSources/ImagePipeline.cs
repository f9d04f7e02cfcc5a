using OnnxQuant.Ir;
using StbImageSharp;

namespace OnnxQuant.Runtime.DataSources;

/// <summary>Decoding (StbImageSharp: JPEG, PNG, BMP, GIF, TGA, PSD, HDR) and the preprocessing of <see cref="ImagePreprocessing"/>.</summary>
internal static class ImagePipeline
{
    public static readonly string[] Extensions = [".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tga"];

    /// <summary>The centre <paramref name="ch"/> × <paramref name="cw"/> of an interleaved h × w image (odd margins split half to even).</summary>
    private static float[] CentreCrop(float[] pixels, int h, int w, int channels, int ch, int cw)
    {
        int top = (int)Math.Round((h - ch) / 2.0, MidpointRounding.ToEven), left = (int)Math.Round((w - cw) / 2.0, MidpointRounding.ToEven);
        var cropped = new float[ch * cw * channels];
        for (int y = 0; y < ch; y++)
            pixels.AsSpan(((top + y) * w + left) * channels, cw * channels).CopyTo(cropped.AsSpan(y * cw * channels));
        return cropped;
    }

    public static bool IsImage(string path) => Extensions.Contains(Path.GetExtension(path).ToLowerInvariant());

    /// <summary>The preprocessed image as raw bytes of the target type, and its dims ([C,H,W] or [H,W,C]).</summary>
    public static (byte[] Bytes, long[] Dims) Load(string path, ImagePreprocessing o)
    {
        ImageResult image;
        try
        {
            byte[] file = File.ReadAllBytes(path);
            image = ImageResult.FromMemory(file, o.Channels == ImageChannels.Gray ? ColorComponents.Grey : ColorComponents.RedGreenBlue);
        }
        catch (Exception e) when (e is not OnnxQuantException and not OutOfMemoryException)
        {
            throw new OnnxQuantException($"Cannot decode image {path}: {e.Message}. Supported formats: JPEG, PNG, BMP, GIF, TGA.", e);
        }
        int channels = o.Channels == ImageChannels.Gray ? 1 : 3;
        int h = image.Height, w = image.Width;
        var pixels = new float[image.Data.Length];
        for (int i = 0; i < pixels.Length; i++) pixels[i] = image.Data[i];

        if (o.ResizeShorterSide is int shorter)
        {
            if (o.ResizeHeight is not null || o.ResizeWidth is not null)
                throw new OnnxQuantException("Image preprocessing: give either the shorter side or an exact height and width to resize to, not both.");
            // torchvision's Resize(int): the shorter side becomes `shorter`, the other keeps the ratio (truncated).
            var (nh, nw) = h <= w ? (shorter, (int)((long)shorter * w / h)) : ((int)((long)shorter * h / w), shorter);
            pixels = Resize(pixels, h, w, channels, nh, nw);
            (h, w) = (nh, nw);
        }
        else if (o.ResizeHeight is not null || o.ResizeWidth is not null)
        {
            if (o.ResizeHeight is not int rh || o.ResizeWidth is not int rw)
                throw new OnnxQuantException("Image preprocessing: an exact resize needs both a height and a width.");
            pixels = Resize(pixels, h, w, channels, rh, rw);
            (h, w) = (rh, rw);
        }
        if (o.CropHeight is not null || o.CropWidth is not null)
        {
            int ch = o.CropHeight ?? o.CropWidth!.Value, cw = o.CropWidth ?? o.CropHeight!.Value;
            if (ch > h || cw > w)
                throw new OnnxQuantException($"Image {path} is {w}×{h} after resizing, smaller than the {cw}×{ch} centre crop; resize it larger first.");
            pixels = CentreCrop(pixels, h, w, channels, ch, cw);
            (h, w) = (ch, cw);
        }
        if (o.MultipleOf is int m && (h % m != 0 || w % m != 0))
        {
            int mh = h - h % m, mw = w - w % m;
            if (mh == 0 || mw == 0)
                throw new OnnxQuantException($"Image {path} is {w}×{h} after resizing and cropping, smaller than multiple-of {m}; resize it larger first.");
            pixels = CentreCrop(pixels, h, w, channels, mh, mw);
            (h, w) = (mh, mw);
        }

        var mean = PerChannel(o.Mean, channels, "mean");
        var std = PerChannel(o.Std, channels, "std");
        bool bgr = o.Channels == ImageChannels.Bgr;
        var values = new double[pixels.Length];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int c = 0; c < channels; c++)
                {
                    int source = bgr ? channels - 1 - c : c;
                    double v = (pixels[(y * w + x) * channels + source] * o.Scale - mean[c]) / std[c];
                    int target = o.Layout == ImageLayout.Nchw ? (c * h + y) * w + x : (y * w + x) * channels + c;
                    values[target] = v;
                }
        long[] dims = o.Layout == ImageLayout.Nchw ? [channels, h, w] : [h, w, channels];
        var tensor = TensorConversions.FromDoubles(o.ElementType, values, dims);
        return (tensor.RawData.ToArray(), dims);
    }

    /// <summary>
    /// Separable bilinear resampling as PIL's BILINEAR: a triangle filter whose support widens by the scale factor when
    /// shrinking (antialiasing), sample centres at half-pixel positions. Values stay float (PIL rounds to uint8 between
    /// the passes; the difference is below one grey level).
    /// </summary>
    public static float[] Resize(float[] source, int h, int w, int channels, int newH, int newW)
    {
        if (newH <= 0 || newW <= 0) throw new OnnxQuantException($"Cannot resize an image to {newW}×{newH}.");
        var horizontal = new float[h * newW * channels];
        var (xStart, xWeights) = Weights(w, newW);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < newW; x++)
                for (int c = 0; c < channels; c++)
                {
                    double sum = 0;
                    var wts = xWeights[x];
                    for (int k = 0; k < wts.Length; k++) sum += wts[k] * source[(y * w + xStart[x] + k) * channels + c];
                    horizontal[(y * newW + x) * channels + c] = (float)sum;
                }
        var result = new float[newH * newW * channels];
        var (yStart, yWeights) = Weights(h, newH);
        for (int y = 0; y < newH; y++)
        {
            var wts = yWeights[y];
            for (int x = 0; x < newW; x++)
                for (int c = 0; c < channels; c++)
                {
                    double sum = 0;
                    for (int k = 0; k < wts.Length; k++) sum += wts[k] * horizontal[((yStart[y] + k) * newW + x) * channels + c];
                    result[(y * newW + x) * channels + c] = (float)sum;
                }
        }
        return result;
    }

    private static (int[] Start, double[][] Weights) Weights(int inSize, int outSize)
    {
        double scale = (double)inSize / outSize;
        double filterScale = Math.Max(scale, 1.0);
        double support = filterScale; // the triangle filter has radius 1
        var starts = new int[outSize];
        var weights = new double[outSize][];
        for (int i = 0; i < outSize; i++)
        {
            double centre = (i + 0.5) * scale;
            int lo = Math.Max(0, (int)Math.Floor(centre - support + 0.5));
            int hi = Math.Min(inSize, (int)Math.Floor(centre + support + 0.5));
            var wts = new double[Math.Max(1, hi - lo)];
            double total = 0;
            for (int j = lo; j < hi; j++)
            {
                double t = Math.Max(0, 1 - Math.Abs((j - centre + 0.5) / filterScale));
                wts[j - lo] = t;
                total += t;
            }
            if (total == 0)
            {
                lo = Math.Min(inSize - 1, Math.Max(0, (int)centre));
                wts = [1.0];
            }
            else for (int k = 0; k < wts.Length; k++) wts[k] /= total;
            starts[i] = lo;
            weights[i] = wts;
        }
        return (starts, weights);
    }

    private static double[] PerChannel(IReadOnlyList<double> values, int channels, string what)
    {
        if (values.Count == 1) return Enumerable.Repeat(values[0], channels).ToArray();
        if (values.Count == channels) return values.ToArray();
        throw new OnnxQuantException($"Image preprocessing: {what} has {values.Count} values; give one, or one per channel ({channels}).");
    }
}
