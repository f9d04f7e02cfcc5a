using OnnxQuant.Ir;
using OnnxQuant.Passes.LinearLayers;
using OnnxQuant.Runtime;
using OnnxQuant.Runtime.DataSources;
using OnnxQuant.Runtime.Evaluation;

namespace OnnxQuant.Passes.Calibration.Ranges.Consumer;

/// <summary>
/// Samples the input rows of linear layers (<see cref="LinearConsumer"/>) from one run of the float model over at most
/// <c>maxSamples</c> evenly spaced calibration samples: per sample, a fixed number of positions drawn with a
/// generator seeded by the sample's index and the layer's, so the sample (and the choice made from it) is the same on
/// every run. Memory is bounded: at most <c>maxRows</c> rows per layer and at most <see cref="MaxFloatsPerLayer"/>
/// floats per layer (a layer with long rows keeps fewer).
/// </summary>
public static class ConsumerSampler
{
    /// <summary>4 MiB of rows per layer at most.</summary>
    public const int MaxFloatsPerLayer = 1 << 20;

    /// <summary>Why <paramref name="layer"/> reading <paramref name="x"/> cannot be sampled (null when it can).</summary>
    public static string? Refusal(LinearLayer layer, Value x)
    {
        var node = layer.Node;
        if (node.Inputs[0] != x) return "the tensor is not the layer's data input";
        if (x.Name is null) return "the tensor has no name";
        if (node.OpType == "MatMul" && layer.Groups != 1) return "a batched MatMul weight";
        if (node.OpType == "Conv")
        {
            if (layer.WeightTensor.Rank != 4) return "not a 2-D Conv";
            if (node.GetString("auto_pad", "NOTSET") is not ("NOTSET" or "VALID" or "SAME_UPPER" or "SAME_LOWER")) return "an unknown auto_pad";
        }
        return null;
    }

    public static Dictionary<Node, List<float[]>> Sample(Model model, IReadOnlyList<LinearLayer> layers, int maxRows, int maxSamples,
        CalibrationDataSource source, PassContext context)
    {
        var rows = layers.ToDictionary(l => l.Node, _ => new List<float[]>());
        if (layers.Count == 0) return rows;
        var names = layers.Select(l => l.Node.Inputs[0]!.Name!).Distinct(StringComparer.Ordinal).ToList();
        int stride = Math.Max(1, (source.Count + maxSamples - 1) / maxSamples);
        int samplesRun = (source.Count + stride - 1) / stride;
        using var runner = ModelRunner.FromModel(model, context.Runner, names);
        foreach (var batch in source.Batches())
        {
            context.Cancellation.ThrowIfCancellationRequested();
            var picked = Enumerable.Range(batch.FirstSample, batch.SampleCount).Where(i => i % stride == 0).ToList();
            if (picked.Count == 0) continue;
            // Read in place from ONNX Runtime's buffers (no managed copy of the activations: a 1024×1024 U-Net's
            // exposed inputs of one batch are gigabytes); each layer reading the visited tensor takes its rows from it.
            runner.Run(batch.Feeds, names, (name, type, dims, bytes) =>
            {
                var data = FloatValues.Of(type, bytes);
                long[] shape = dims.ToArray();
                for (int li = 0; li < layers.Count; li++)
                {
                    var layer = layers[li];
                    if (layer.Node.Inputs[0]!.Name != name) continue;
                    int rowLength = RowLength(layer);
                    int cap = Math.Max(1, Math.Min(maxRows, MaxFloatsPerLayer / rowLength));
                    int perSample = Math.Max(1, (cap + samplesRun - 1) / samplesRun);
                    var kept = rows[layer.Node];
                    foreach (int sample in picked)
                    {
                        if (kept.Count >= cap) break;
                        var random = new Random(unchecked(sample * 1_000_003 + li));
                        int n = sample - batch.FirstSample;
                        int take = Math.Min(perSample, cap - kept.Count);
                        if (layer.Node.OpType == "Conv") ConvPatches(layer, shape, data, n, batch.SampleCount, take, random, kept);
                        else LastAxisRows(layer, shape, data, n, batch.SampleCount, take, random, kept);
                    }
                }
            });
        }
        return rows;
    }

    private static int RowLength(LinearLayer layer) => layer.Groups * layer.K;

    /// <summary><paramref name="take"/> rows of the last axis from sample <paramref name="n"/>'s share of the rows.</summary>
    private static void LastAxisRows(LinearLayer layer, long[] dims, ReadOnlySpan<float> data, int n, int samples, int take, Random random, List<float[]> kept)
    {
        int k = layer.K;
        if (dims.Length == 0 || dims[^1] != k) return;
        long total = data.Length / k, perSample = total / samples;
        if (perSample == 0) return;
        for (int i = 0; i < take; i++)
        {
            long r = n * perSample + random.NextInt64(perSample);
            kept.Add(data.Slice((int)(r * k), k).ToArray());
        }
    }


    /// <summary><paramref name="take"/> im2col patches [C, kh, kw] at random output positions of image <paramref name="n"/> (zero outside the padded input).</summary>
    private static void ConvPatches(LinearLayer layer, long[] d, ReadOnlySpan<float> data, int n, int samples, int take, Random random, List<float[]> kept)
    {
        var node = layer.Node;
        if (d.Length != 4 || d[0] != samples) return;
        var w = layer.WeightTensor.Dims;
        int c = (int)d[1], h = (int)d[2], wd = (int)d[3], kh = (int)w[2], kw = (int)w[3];
        if (c != layer.Groups * w[1]) return;
        var strides = node.GetInts("strides")?.ToArray() ?? [1, 1];
        var dilations = node.GetInts("dilations")?.ToArray() ?? [1, 1];
        var pads = node.GetInts("pads")?.ToArray() ?? [0, 0, 0, 0];
        string autoPad = node.GetString("auto_pad", "NOTSET");
        int oh, ow;
        (long top, long left) = (pads[0], pads[1]);
        if (autoPad is "SAME_UPPER" or "SAME_LOWER")
        {
            oh = (int)((h + strides[0] - 1) / strides[0]);
            ow = (int)((wd + strides[1] - 1) / strides[1]);
            long padH = Math.Max(0, (oh - 1) * strides[0] + (kh - 1) * dilations[0] + 1 - h);
            long padW = Math.Max(0, (ow - 1) * strides[1] + (kw - 1) * dilations[1] + 1 - wd);
            top = autoPad == "SAME_UPPER" ? padH / 2 : padH - padH / 2;
            left = autoPad == "SAME_UPPER" ? padW / 2 : padW - padW / 2;
        }
        else
        {
            if (autoPad == "VALID") (top, left, pads) = (0, 0, [0, 0, 0, 0]);
            oh = (int)((h + pads[0] + pads[2] - dilations[0] * (kh - 1) - 1) / strides[0] + 1);
            ow = (int)((wd + pads[1] + pads[3] - dilations[1] * (kw - 1) - 1) / strides[1] + 1);
        }
        if (oh <= 0 || ow <= 0) return;
        long image = (long)n * c * h * wd;
        for (int i = 0; i < take; i++)
        {
            int y = random.Next(oh), x = random.Next(ow);
            var patch = new float[c * kh * kw];
            for (int ch = 0; ch < c; ch++)
                for (int a = 0; a < kh; a++)
                {
                    long iy = y * strides[0] - top + a * dilations[0];
                    if (iy < 0 || iy >= h) continue;
                    for (int b = 0; b < kw; b++)
                    {
                        long ix = x * strides[1] - left + b * dilations[1];
                        if (ix < 0 || ix >= wd) continue;
                        patch[(ch * kh + a) * kw + b] = data[checked((int)(image + (ch * h + iy) * wd + ix))];
                    }
                }
            kept.Add(patch);
        }
    }
}
