using OnnxQuant.Ir;
using OnnxQuant.Passes.Equivalence.Rotation;
using OnnxQuant.Passes.LinearLayers;
using OnnxQuant.Passes.Numerics;
using OnnxQuant.Passes.Recipes;
using OnnxQuant.Passes.Rewriting;

namespace OnnxQuant.Passes.Equivalence;

/// <summary>
/// QuaRot-style rotation of a pre-norm transformer (Ashkboos et al. 2024, "QuaRot: Outlier-Free 4-Bit Inference in
/// Rotated LLMs"; SpinQuant's R1/R2/R4 without learning): rewrites the float model into an equivalent one whose weights
/// and activations have no channel outliers, for 4-bit weights and 8-bit activations. Identities, for an orthogonal Q
/// (Q·Qᵀ = I):
/// <list type="bullet">
/// <item>Residual stream (<see cref="ResidualStream"/>): every writer B ← B·Q (patch/token embedding, out-projection,
/// fc2/down-projection, biases, position embedding, cls token) and every reader B ← Qᵀ·B, so the stream carries x·Q. A
/// norm between must commute with Q: RMS(x·Q) = RMS(x)·Q when γ = 1, so each norm's γ (and β) is folded first into the
/// linear layers reading it (B ← diag(γ)·B, b ← b + β·B). For LayerNorm models the stream is first made zero-mean
/// (every writer's columns and every constant term minus their mean over the channels; LayerNorm ignores the mean, so
/// the outputs do not change), then LayerNorm equals the affine-free RMS norm it is replaced by (RMSNormalization from
/// opset 23, else ONNX Runtime's SimplifiedLayerNormalization). Q = diag(s)·H_d/√d with seeded random signs s
/// (<see cref="RandomizedHadamard"/>).</item>
/// <item>Per head (<see cref="AttentionValueHeads"/>): V ← V·(I ⊗ H_dh) and the out-projection B ← (I ⊗ H_dh)ᵀ·B; the
/// attention is linear in V per head, so the out-projection's input is rotated at no run-time cost.</item>
/// <item>fc2/down-projection (a stream writer whose input is an activation: Relu, Gelu, SwiGLU's Mul, …):
/// x·B = (x·H)·(Hᵀ·B), Hᵀ folded into B and x·H computed online as a MatMul by the constant H (a fast transform
/// kernel is future work; its latency is reported in passes/OnnxQuant.Cli/docs/rotate.md).</item>
/// </list>
/// Hadamard orders: 2^m, or K·2^m with K in <see cref="Hadamard.BaseOrders"/> (768 = 12·64, 192 = 12·16, 172).
/// <para>
/// With <c>online-inputs: true</c> (ViDiT-Q, <see cref="LinearInputRotation"/>) the residual stream is left alone and
/// the input of every selected linear layer is rotated online instead: x·B = (x·H)·(Hᵀ·B), one x·H MatMul per input
/// tensor shared by its readers, the out-projection per head as above. It needs no norm and goes through adaLN's
/// modulation, which the stream rotation cannot; it does not fire when no layer qualifies (<c>rotate.stream</c>).
/// </para>
/// <para>
/// Preconditions: a float model whose LayerNorm/RMS norm nodes (fused: the pass runs the cleanup preset first unless
/// <c>canonicalize: false</c>) normalize the last axis of one residual stream of width d, with constant γ (and β), and
/// whose norm outputs are read only by MatMul/Gemm layers with constant 2-D weights. No data is needed.
/// </para>
/// <para>
/// Does not fire (the reason is recorded under <c>rotate.stream</c> and nothing changes) when the model has no norm, mixes
/// LayerNorm and RMS norm, when the stream is a graph input or output, is produced or read by an op it cannot go
/// through (a Mul by a non-constant, a Conv, a Concat or Gather on the channel axis, …), when a norm output is read by
/// anything but such a linear layer, when a LayerNorm model reads the stream directly with a linear layer, or when d has
/// no Hadamard matrix. Per head, an attention is left alone (<c>rotate.heads</c>) when its value path or output path
/// has other readers (a KV cache) or splits heads; an fc2 whose input width has no Hadamard matrix keeps its input
/// (<c>rotate.online</c>).
/// </para>
/// </summary>
public sealed class RotatePass : Pass<RotateOptions>
{
    public override string Name => "rotate";

    /// <summary>
    /// Read every layer's weight first and edit it step by step, as the pass did before issue 16 (every layer's
    /// doubles held until the write); for the test that the layer-at-a-time path writes the same bytes.
    /// </summary>
    internal bool EditAllLayersFirst { get; init; }

    public override string Summary => "QuaRot: fold norms' γ/β, make LayerNorm streams zero-mean (→ RMS norm), rotate the residual stream by a seeded randomized Hadamard, per-head Hadamard on V/out-projection, online Hadamard before fc2/down-projection.";

    public override PassResult Run(Model model, RotateOptions options, PassContext context)
    {
        if (!options.OnlineInputs && (options.ExcludeNodes.Count > 0 || options.ExcludeConditioningPath || options.ExcludeOutputLayers))
            throw new OnnxQuantException($"{Name}: exclude-nodes, exclude-conditioning-path and exclude-output-layers apply only with " +
                                         "online-inputs: true (the residual-stream rotation edits every layer it reaches); add online-inputs: true or drop them.");
        if (options.Canonicalize)
            new PassManager(RecipeLoader.LoadFileOrPreset("cleanup").Steps).Run(model, new PassContext(context.Seed, context.Cancellation, _ => { }));
        var graph = model.Graph;
        ResidualStream? stream = null;
        if (!options.OnlineInputs)
        {
            if (ResidualStream.TryFind(graph, out stream) is { } why)
            {
                context.RecordMiss("stream", why);
                context.Log($"{Name}: not applied: {why}.");
                return options.Canonicalize ? PassResult.Changed : PassResult.Unchanged;
            }
            if (!Hadamard.IsSupportedOrder(stream!.Width))
            {
                var reason = $"the residual width {stream.Width} has no Hadamard matrix ({Hadamard.SupportedOrdersText})";
                context.RecordMiss("stream", reason);
                context.Log($"{Name}: not applied: {reason}.");
                return options.Canonicalize ? PassResult.Changed : PassResult.Unchanged;
            }
        }

        // Each layer's edits are recorded in step order (γ folded before any rotation reads B) and applied when the
        // layer is written, one layer at a time, so a model larger than memory holds one layer's weight (issue 16).
        var edits = new System.Collections.Concurrent.ConcurrentDictionary<Node, Lazy<RotationLayerEdit>>();
        RotationLayerEdit Edit(Node node) => edits.GetOrAdd(node, n => new Lazy<RotationLayerEdit>(() =>
            LinearLayer.TryRead(n, out var layer) is { } not ? throw new InvalidOperationException($"{n}: {not}") : new RotationLayerEdit(layer!, EditAllLayersFirst))).Value;

        Action<Span<double>>? streamColumns = null;
        if (stream is not null)
        {
            int d = stream.Width;
            // 1. Fold every norm's γ and β into its readers (before any rotation: it reads B as it is).
            var folds = stream.Norms.SelectMany(n => n.Readers.Select(reader => (Norm: n.Norm, Reader: reader))).ToList();
            Parallel.ForEach(folds, fold =>
            {
                var gamma = fold.Norm.Inputs[1]!.Const!.ToFloatArray();
                var beta = fold.Norm.OpType == "LayerNormalization" ? fold.Norm.Input(2)?.Const?.ToFloatArray() : null;
                Edit(fold.Reader).FoldInputAffine(gamma, beta);
            });

            // 2. The stream's terms: zero-mean (LayerNorm models), then ·Q.
            var q = RandomizedHadamard.Create(d, options.Seed ?? context.Seed);
            streamColumns = rows =>
            {
                if (stream.IsLayerNorm) SubtractRowMeans(rows, d);
                q.ApplyToRows(rows);
            };
            Parallel.ForEach(stream.Writers, writer => Edit(writer).TransformColumns(streamColumns));
            Parallel.ForEach(stream.Norms.SelectMany(n => n.Readers).Concat(stream.DirectReaders).Distinct(),
                reader => Edit(reader).TransformRows(q.ApplyToRows));
        }

        // 3. Per-head Hadamard on V and the out-projection's input.
        Func<Node, string?> excluded = options.OnlineInputs ? LinearInputRotation.Exclusions(graph, options) : _ => null;
        var outProjections = new HashSet<Node>();
        var headTerms = new List<(Node Node, int Input, Action<Span<double>> Op)>();
        int heads = 0;
        if (options.PerHead)
        {
            var misses = new List<string>();
            foreach (var attention in AttentionValueHeads.Find(graph, (int)(model.GetOpset() ?? 1), misses))
            {
                if (!Hadamard.IsSupportedOrder(attention.HeadDim))
                {
                    context.RecordMiss("heads", $"head dimension {attention.HeadDim} has no Hadamard matrix");
                    continue;
                }
                if ((excluded(attention.ValueProjection) ?? excluded(attention.OutProjection)) is { } notThis)
                {
                    context.RecordMiss("heads", $"its value or out-projection is {notThis}");
                    continue;
                }
                var h = HadamardTransform.ForOrder(attention.HeadDim);
                var (offset, count, n) = (attention.ColumnOffset, attention.ColumnCount, Edit(attention.ValueProjection).N);
                Edit(attention.ValueProjection).TransformColumns(rows => PerBlock(rows, n, offset, count, h));
                foreach (var (node, input, termOffset, termCount) in attention.ConstantTerms)
                {
                    int width = (int)node.Inputs[input]!.Const!.Dims[^1];
                    headTerms.Add((node, input, rows => PerBlock(rows, width, termOffset, termCount ?? width - termOffset, h)));
                }
                int k = Edit(attention.OutProjection).K;
                Edit(attention.OutProjection).TransformRows(rows => PerBlock(rows, k, 0, k, h));
                outProjections.Add(attention.OutProjection);
                heads++;
            }
            foreach (var miss in misses) context.RecordMiss("heads", miss);
        }

        // 4. Online Hadamard: before fc2/down-projection (QuaRot), or before every linear layer's input (ViDiT-Q).
        var online = new List<(Value Input, List<Node> Readers, int K)>();
        if (options.OnlineInputs)
            online = LinearInputRotation.Find(graph, options, outProjections, context);
        else if (options.OnlineHadamard)
            foreach (var writer in stream!.Writers.Where(w => !outProjections.Contains(w) && IsActivation(w.Inputs[0]!.Producer)))
            {
                int k = Edit(writer).K;
                if (!Hadamard.IsSupportedOrder(k))
                {
                    context.RecordMiss("online", $"{writer}'s input width {k} has no Hadamard matrix");
                    continue;
                }
                online.Add((writer.Inputs[0]!, [writer], k));
            }
        Parallel.ForEach(online.SelectMany(o => o.Readers.Select(reader => (Reader: reader, o.K))), o =>
        {
            var h = HadamardTransform.ForOrder(o.K);
            Edit(o.Reader).TransformRows(rows => h.Apply(rows, normalized: true, transposed: true));
        });
        if (options.OnlineInputs && edits.IsEmpty)
        {
            const string reason = "no linear layer's input could be rotated (see rotate.online)";
            context.RecordMiss("stream", reason);
            context.Log($"{Name}: not applied: {reason}.");
            return options.Canonicalize ? PassResult.Changed : PassResult.Unchanged;
        }

        // Write: weights, constant terms, norms, online MatMuls.
        var rewriter = new Rewriter(graph);
        // Written in graph order, so constant names and the output bytes do not depend on the threads.
        foreach (var node in graph.Nodes.Where(edits.ContainsKey).ToList())
        {
            edits[node].Value.Write(rewriter, collectCopies: model.Streams);
            // A model larger than memory: each layer leaves a few weight-sized arrays on the large-object heap, which
            // the GC lets pile up before a full collection; a blocking one per layer costs milliseconds.
            if (model.Streams) GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        }
        var rotatedConstants = new Dictionary<(Value, string), Value>();
        if (stream is not null)
            foreach (var (node, input) in stream.ConstantTerms)
                RotateConstant(model, rewriter, node, input, "stream", streamColumns!, rotatedConstants);
        foreach (var (node, input, op) in headTerms)
            RotateConstant(model, rewriter, node, input, $"head{node.Name}", op, rotatedConstants);
        if (stream is not null)
            foreach (var (norm, _) in stream.Norms) ReplaceNorm(rewriter, model, norm, stream.Width);
        var hadamards = new Dictionary<int, Value>();
        foreach (var (x, readers, k) in online)
        {
            if (!hadamards.TryGetValue(k, out var hValue))
            {
                // One constant per order, shared by every layer of that width.
                var entries = Hadamard.ForOrder(k).Entries;
                float scale = (float)(1 / Math.Sqrt(k));
                var values = new float[entries.Length];
                for (int i = 0; i < values.Length; i++) values[i] = entries[i] * scale;
                hadamards[k] = hValue = rewriter.AddWeight(Tensor.FromFloats(values, k, k), $"hadamard_{k}");
            }
            // Readers are in graph order: the MatMul goes before the first, and every reader takes its output.
            var first = readers[0];
            var matmul = new Node("MatMul", [x, hValue], name: rewriter.FreshName($"{first.Name ?? "fc2"}_hadamard"));
            matmul.Outputs[0]!.Name = rewriter.FreshName($"{x.Name}_hadamard");
            matmul.Outputs[0]!.Type = x.Type;
            rewriter.InsertBefore(first, matmul);
            foreach (var reader in readers) rewriter.SetInput(reader, 0, matmul.Outputs[0]);
        }

        context.Count("layers", edits.Count);
        context.Count("heads", heads);
        context.Count("online", online.Count);
        if (stream is null)
        {
            context.Log($"{Name}: rotated the inputs of {edits.Count} linear layers (online-inputs): {online.Count} online Hadamards " +
                        $"before {online.Sum(o => o.Readers.Count)} layers, {heads} attentions per head.");
            return PassResult.Changed;
        }
        context.Count("norms", stream.Norms.Count);
        context.Count("writers", stream.Writers.Count);
        context.Log($"{Name}: rotated a residual stream of width {stream.Width} ({(stream.IsLayerNorm ? "LayerNorm made zero-mean → RMS norm" : "RMS norm")}): " +
                    $"{edits.Count} layers, {stream.Norms.Count} norms, {heads} attentions per head, {online.Count} online Hadamards.");
        return PassResult.Changed;
    }

    private static bool IsActivation(Node? producer) =>
        producer is { IsDefaultDomain: true, OpType: "Relu" or "Gelu" or "Mul" or "Sigmoid" or "Tanh" or "HardSwish" or "LeakyRelu" or "Elu" or "Erf" or "Silu" or "Swish" }
        || producer is { Domain: "com.microsoft", OpType: "FastGelu" or "BiasGelu" or "Gelu" or "QuickGelu" };

    /// <summary>Each row of <paramref name="rows"/> (length <paramref name="width"/>): columns [offset, offset+count) ← ·H per block of H's order.</summary>
    private static void PerBlock(Span<double> rows, int width, int offset, int count, HadamardTransform h)
    {
        for (int start = 0; start < rows.Length; start += width)
            h.Apply(rows.Slice(start + offset, count), normalized: true, transposed: true);
    }

    private static void SubtractRowMeans(Span<double> rows, int width)
    {
        for (int start = 0; start < rows.Length; start += width)
        {
            var row = rows.Slice(start, width);
            double mean = 0;
            foreach (var v in row) mean += v;
            mean /= width;
            for (int j = 0; j < width; j++) row[j] -= mean;
        }
    }

    private static void RotateConstant(Model model, Rewriter rewriter, Node node, int input, string kind, Action<Span<double>> op,
        Dictionary<(Value, string), Value> done)
    {
        var old = node.Inputs[input]!;
        if (!done.TryGetValue((old, kind), out var replacement))
        {
            var tensor = old.Const!;
            var values = tensor.ToFloatArray();
            tensor.Storage?.ReleasePages();
            // Every op here treats each row of the last axis on its own: it runs on slices of whole rows in double,
            // written back in place, so an embedding table (32000×2560 on the 2.7B shape) is never held as doubles.
            int width = tensor.Rank == 0 ? values.Length : (int)tensor.Dims[^1];
            int sliceLength = width <= 0 || values.Length % width != 0 ? values.Length : Math.Max(1, (1 << 18) / width) * width;
            int slices = values.Length == 0 ? 0 : (values.Length + sliceLength - 1) / sliceLength;
            Parallel.For(0, slices, slice =>
            {
                int first = slice * sliceLength, length = Math.Min(sliceLength, values.Length - first);
                var buffer = new double[length];
                for (int i = 0; i < length; i++) buffer[i] = values[first + i];
                op(buffer);
                for (int i = 0; i < length; i++) values[first + i] = (float)buffer[i];
            });
            replacement = rewriter.AddWeight(TensorConversions.FromFloats(tensor.ElementType, values, tensor.Dims.ToArray()), old.Name);
            done[(old, kind)] = replacement;
            if (model.Streams) GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        }
        rewriter.ReplaceInput(node, input, replacement);
    }

    /// <summary>The norm, now reading x·Q, becomes RMS norm with γ = 1 (RMS(x·Q) = RMS(x)·Q).</summary>
    private static void ReplaceNorm(Rewriter rewriter, Model model, Node norm, int d)
    {
        var ones = rewriter.AddWeight(TensorConversions.FromFloats(norm.Inputs[1]!.Const!.ElementType, Enumerable.Repeat(1f, d).ToArray(), [d]), $"{norm.Name ?? "norm"}_unit_scale");
        if (norm.OpType != "LayerNormalization")
        {
            rewriter.ReplaceInput(norm, 1, ones);
            return;
        }
        string op = (model.GetOpset() ?? 1) >= Fusion.FuseRmsNormPass.StandardOpset ? "RMSNormalization" : "SimplifiedLayerNormalization";
        var rms = new Node(op, [norm.Inputs[0], ones], 1, "",
            [Attribute.Int("axis", -1), Attribute.Float("epsilon", norm.GetFloat("epsilon", 1e-5f))], name: norm.Name);
        rms.Outputs[0]!.Type = norm.Outputs[0]!.Type;
        rewriter.InsertBefore(norm, rms);
        var output = norm.Outputs[0]!;
        rms.Outputs[0]!.Name = rewriter.FreshName($"{output.Name}_rms");
        rewriter.ReplaceAllUsesWith(output, rms.Outputs[0]!);
        rewriter.RemoveDead([norm]);
    }
}
