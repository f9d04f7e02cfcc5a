using System.Numerics;
using OnnxQuant.Ir;
using OnnxQuant.Passes.Calibration;
using OnnxQuant.Runtime;
using OnnxQuant.Runtime.DataSources;
using OnnxQuant.Runtime.Evaluation;

namespace OnnxQuant.Passes.Quantization.Repq;

/// <summary>
/// Chooses the per-tensor ranges of attention's q and k together, for the least squared error of the scores
/// q·kᵀ on calibration data (repq-vit's <c>qk-range-search</c>), instead of each tensor's own error. The scores are
/// what the Softmax reads; at 4 bits the range that is best for q alone is not best for the product, because q's
/// error is weighted by k (and k's by q). Coordinate descent: both start at their own least-MSE range on the sampled
/// values; then q's range is chosen with k fake-quantized, k's with q fake-quantized, until neither changes (at most
/// <see cref="MaxRounds"/> rounds; each choice looks at every fourth candidate, then at the neighbours of the best). Candidates are RepQ-ViT's/ALGORITHMS.md §5's shrink grid [min·f, max·f],
/// f = 1 − i/40 for i = 0..<see cref="GridSteps"/>−1, for the quantizer the insert-qdq step uses (uint8 asymmetric,
/// emulated width). The chosen quantizers are pinned (<see cref="PinnedActivations"/>), so insert-qdq uses them as they are.
/// <para>
/// The search reads the scores MatMul's two inputs as ONNX Runtime computes them (the float model after the pass's
/// other edits) on at most <see cref="MaxFloatsPerTensor"/> values of each: the first samples of the calibration data.
/// Does not fire (the caller records the reason) when an input has no name, when the operands are not [.., T, D] and
/// [.., D, T] with equal leading dimensions, or when a tensor was constant on the calibration data.
/// </para>
/// </summary>
internal static class QkRangeSearch
{
    /// <summary>Values of q (and of k) kept per attention: 4 MiB of floats.</summary>
    public const int MaxFloatsPerTensor = 1 << 20;

    /// <summary>Multiply-adds of q̂·k̂ᵀ per error evaluation at most (4M): the samples kept for the search (at least one).</summary>
    public const long MaxScoreProducts = 1 << 22;

    /// <summary>The first pass over the grid looks at every <see cref="CoarseStride"/>-th candidate, the second at the neighbours of the best.</summary>
    public const int CoarseStride = 4;

    public const int GridSteps = 32;

    public const int MaxRounds = 3;

    /// <summary>The searched quantizers of one scores MatMul, or why there are none.</summary>
    public sealed record Choice(Node Scores, QuantParams? Q, QuantParams? K, string? Refusal, double OwnError = 0, double SearchedError = 0);

    /// <summary>
    /// The MatMuls of two computed tensors other than attention times V (whose first input is a Softmax output or
    /// already quantized, e.g. by the log√2 export): attention's q·kᵀ in any layout (fused or separate projections,
    /// a Gather from a 5-D qkv split), in graph order.
    /// </summary>
    public static List<Node> ScoresMatMuls(Graph graph, PinnedActivations pinned) =>
        graph.Nodes.Where(n => n.OpType == "MatMul" && n.IsDefaultDomain && n.Inputs.Count == 2
            && n.Inputs[0] is { IsConstant: false } a && n.Inputs[1] is { IsConstant: false }
            && a.Producer?.OpType != "Softmax" && !pinned.AlreadyQuantized.Contains(a)).ToList();

    public static List<Choice> Search(Model model, IReadOnlyList<Node> scores, QuantTarget target, PassContext context)
    {
        var names = new List<string>();
        foreach (var node in scores)
            foreach (var input in node.Inputs.Take(2))
                if (input?.Name is { } name && !names.Contains(name, StringComparer.Ordinal)) names.Add(name);
        var kept = names.ToDictionary(n => n, _ => new List<(float[] Data, int[] Dims)>(), StringComparer.Ordinal);
        var floats = names.ToDictionary(n => n, _ => 0L, StringComparer.Ordinal);
        if (names.Count > 0)
        {
            var settings = context.GetAnalysis<CalibrationSettings>() ?? new CalibrationSettings();
            using var source = settings.OpenData(model, null);
            using var runner = ModelRunner.FromModel(model, context.Runner, names);
            foreach (var batch in source.Batches())
            {
                context.Cancellation.ThrowIfCancellationRequested();
                if (names.All(n => floats[n] >= MaxFloatsPerTensor)) break;
                var values = runner.Run(batch.Feeds, names);
                foreach (var name in names)
                {
                    var t = values[name];
                    if (t.Rank < 3 || t.Dims[0] != batch.SampleCount) continue;
                    var data = FloatValues.Of(t);
                    int per = data.Length / batch.SampleCount;
                    var dims = t.Dims.Skip(1).Select(d => (int)d).ToArray();
                    for (int s = 0; s < batch.SampleCount && floats[name] < MaxFloatsPerTensor; s++)
                    {
                        kept[name].Add((data.Slice(s * per, per).ToArray(), dims));
                        floats[name] += per;
                    }
                }
            }
        }
        var choices = new List<Choice>();
        foreach (var node in scores)
        {
            string? qName = node.Inputs[0]?.Name, kName = node.Inputs[1]?.Name;
            if (qName is null || kName is null) { choices.Add(new Choice(node, null, null, "qk-range-search: q or k has no name")); continue; }
            choices.Add(Choose(node, kept[qName], kept[kName], target));
        }
        return choices;
    }

    /// <summary>The search on the kept samples of one attention's q ([.., T, D]) and k ([.., D, T]).</summary>
    internal static Choice Choose(Node scores, IReadOnlyList<(float[] Data, int[] Dims)> q, IReadOnlyList<(float[] Data, int[] Dims)> k, QuantTarget target)
    {
        int samples = Math.Min(q.Count, k.Count);
        if (samples > 0)
        {
            long perSample = (long)q[0].Data.Length * k[0].Dims[^1];
            samples = (int)Math.Clamp(MaxScoreProducts / Math.Max(1, perSample), 1, samples);
        }
        if (samples == 0) return new Choice(scores, null, null, "qk-range-search: q and k were not observed on the calibration data");
        var (qd, kd) = (q[0].Dims, k[0].Dims);
        if (qd.Length != kd.Length || qd.Length < 2 || !qd.Take(qd.Length - 2).SequenceEqual(kd.Take(kd.Length - 2)) || qd[^1] != kd[^2])
            return new Choice(scores, null, null, "qk-range-search: the scores MatMul's operands are not [.., T, D] and [.., D, T] with equal leading dimensions");
        var problem = new ScoresProblem(q.Take(samples).Select(s => s.Data).ToList(), k.Take(samples).Select(s => s.Data).ToList(),
            qd[^2], qd[^1], kd[^1]);
        return problem.Solve(scores, target);
    }

    /// <summary>q and k of the kept samples as [heads, T, D] blocks (k transposed to rows of D), with the float scores.</summary>
    internal sealed class ScoresProblem
    {
        private readonly List<float[]> _q;
        private readonly List<float[]> _kRows;   // per sample [heads, Tk, D]
        private readonly List<double[]> _scores; // per sample [heads, Tq, Tk]
        private readonly int _tq, _d, _tk, _heads;

        public ScoresProblem(List<float[]> q, List<float[]> k, int tq, int d, int tk)
        {
            (_tq, _d, _tk) = (tq, d, tk);
            _heads = q[0].Length / (tq * d);
            _q = q;
            _kRows = k.Select(Transpose).ToList();
            _scores = [];
            for (int s = 0; s < q.Count; s++) _scores.Add(Scores(_q[s], _kRows[s]).Select(v => (double)v).ToArray());
        }

        private float[] Transpose(float[] k)
        {
            var rows = new float[k.Length];
            for (int h = 0; h < _heads; h++)
                for (int i = 0; i < _d; i++)
                    for (int j = 0; j < _tk; j++)
                        rows[(h * _tk + j) * _d + i] = k[(h * _d + i) * _tk + j];
            return rows;
        }

        private float[] Scores(float[] q, float[] kRows)
        {
            var s = new float[_heads * _tq * _tk];
            for (int h = 0; h < _heads; h++)
                for (int t = 0; t < _tq; t++)
                {
                    var qRow = q.AsSpan((h * _tq + t) * _d, _d);
                    for (int u = 0; u < _tk; u++) s[(h * _tq + t) * _tk + u] = Dot(qRow, kRows.AsSpan((h * _tk + u) * _d, _d));
                }
            return s;
        }

        private static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
        {
            var sum = Vector<float>.Zero;
            int i = 0, w = Vector<float>.Count;
            for (; i + w <= a.Length; i += w) sum += new Vector<float>(a.Slice(i, w)) * new Vector<float>(b.Slice(i, w));
            float total = Vector.Sum(sum);
            for (; i < a.Length; i++) total += a[i] * b[i];
            return total;
        }

        /// <summary>Σ over samples of ‖q̂·k̂ᵀ − q·kᵀ‖².</summary>
        private double Error(List<float[]> qHat, List<float[]> kHat)
        {
            double total = 0;
            for (int s = 0; s < qHat.Count; s++)
            {
                var approx = Scores(qHat[s], kHat[s]);
                var exact = _scores[s];
                for (int i = 0; i < approx.Length; i++)
                {
                    double e = approx[i] - exact[i];
                    total += e * e;
                }
            }
            return total;
        }

        /// <summary>ONNX QuantizeLinear then DequantizeLinear (x/s in float32, round half to even, saturate), as <see cref="QuantParams.FakeQuantize"/>.</summary>
        private static List<float[]> FakeQuantize(List<float[]> values, QuantParams p)
        {
            float scale = p.Scale, zero = p.ZeroPoint, lo = p.CodeMin, hi = p.CodeMax;
            var result = new List<float[]>(values.Count);
            foreach (var v in values)
            {
                var hat = new float[v.Length];
                for (int i = 0; i < v.Length; i++)
                {
                    float scaled = v[i] / scale;
                    float code = float.IsNaN(scaled) ? zero : Math.Clamp(MathF.Round(scaled, MidpointRounding.ToEven) + zero, lo, hi);
                    hat[i] = (float)((code - zero) * (double)scale);
                }
                result.Add(hat);
            }
            return result;
        }

        private static List<QuantParams> Candidates(List<float[]> values, QuantTarget target)
        {
            float min = values.Min(v => v.Min()), max = values.Max(v => v.Max());
            var list = new List<QuantParams>();
            for (int i = 0; i < GridSteps; i++)
            {
                double f = 1 - i / 40.0;
                list.Add(QuantParams.FromRange(Math.Min(0, min * f), Math.Max(0, max * f), target));
            }
            return list;
        }

        private static int OwnBest(List<float[]> values, List<QuantParams> candidates)
        {
            int best = 0;
            double bestError = double.PositiveInfinity;
            for (int c = 0; c < candidates.Count; c++)
            {
                double e = 0;
                var hat = FakeQuantize(values, candidates[c]);
                for (int s = 0; s < values.Count; s++)
                    for (int i = 0; i < values[s].Length; i++)
                    {
                        double d = values[s][i] - hat[s][i];
                        e += d * d;
                    }
                if (e < bestError) (best, bestError) = (c, e);
            }
            return best;
        }

        public Choice Solve(Node scores, QuantTarget target)
        {
            if (_q.All(v => v.All(x => x == v[0])) || _kRows.All(v => v.All(x => x == v[0])))
                return new Choice(scores, null, null, "qk-range-search: q or k is constant on the calibration data");
            var qCandidates = Candidates(_q, target);
            var kCandidates = Candidates(_kRows, target);
            int qi = OwnBest(_q, qCandidates), ki = OwnBest(_kRows, kCandidates);
            var qHat = FakeQuantize(_q, qCandidates[qi]);
            var kHat = FakeQuantize(_kRows, kCandidates[ki]);
            double own = Error(qHat, kHat), error = own;
            for (int round = 0; round < MaxRounds; round++)
            {
                bool changed = false;
                (qi, qHat, error, bool qChanged) = Best(qCandidates, qi, _q, c => Error(c, kHat), qHat, error);
                (ki, kHat, error, bool kChanged) = Best(kCandidates, ki, _kRows, c => Error(qHat, c), kHat, error);
                changed = qChanged || kChanged;
                if (!changed) break;
            }
            return new Choice(scores, qCandidates[qi], kCandidates[ki], null, own, error);
        }

        /// <summary>The candidate with the least error (the current one kept on ties, so the descent ends): every
        /// <see cref="CoarseStride"/>-th candidate first, then the neighbours of the best of those.</summary>
        private static (int Index, List<float[]> Hat, double Error, bool Changed) Best(List<QuantParams> candidates, int current, List<float[]> values,
            Func<List<float[]>, double> error, List<float[]> currentHat, double currentError)
        {
            var (best, bestHat, bestError) = (current, currentHat, currentError);
            var tried = new HashSet<int> { current };
            void Try(int c)
            {
                if (c < 0 || c >= candidates.Count || !tried.Add(c)) return;
                var hat = FakeQuantize(values, candidates[c]);
                double e = error(hat);
                if (e < bestError) (best, bestHat, bestError) = (c, hat, e);
            }
            for (int c = 0; c < candidates.Count; c += CoarseStride) Try(c);
            int centre = best;
            for (int c = centre - CoarseStride + 1; c < centre + CoarseStride; c++) Try(c);
            return (best, bestHat, bestError, best != current);
        }
    }
}
