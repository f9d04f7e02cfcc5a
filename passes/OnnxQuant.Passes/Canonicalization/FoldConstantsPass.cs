using System.Security.Cryptography;
using System.Text;
using OnnxQuant.Ir;
using OnnxQuant.Runtime;

namespace OnnxQuant.Passes.Canonicalization;

/// <summary>
/// Replaces a node whose inputs are all constants by the constants it computes, evaluated by running just that node
/// in ONNX Runtime (so the result has ORT's exact semantics for every operator, opset and type).
/// <para>Identity: a deterministic operator without subgraphs applied to fixed inputs always yields the same tensors,
/// so computing them once ahead of time changes nothing. <c>Shape</c> (with opset 15's start/end) and <c>Size</c>
/// of a value whose needed dimensions are all known are such constants too, whether or not the value is; folding
/// then goes on through the Gather/Concat/... that consume them, so shape-only subgraphs
/// (Shape→Gather→Concat→Reshape) vanish once shapes are known.</para>
/// <para>Preconditions: the graph is in topological order (as read and as every pass leaves it), so one sweep folds
/// whole chains. Identical (op, attributes, input tensors) are evaluated once per run (counter <c>cache-hits</c>).
/// Input constants that nothing reads afterwards are removed.</para>
/// <para>Does not fire: on nodes with subgraphs; on non-deterministic ops (Random*, Multinomial, Bernoulli, Dropout);
/// on sequence/optional ops; on custom domains; on DequantizeLinear unless
/// <see cref="FoldConstantsOptions.FoldDequantizeLinear"/>; on inputs that are graph inputs too (callers may
/// override those); in function bodies (they cannot hold constants); when the outputs would exceed
/// <see cref="FoldConstantsOptions.MaxOutputBytes"/>, or exceed both the inputs' size and
/// <see cref="FoldConstantsOptions.SmallOutputBytes"/> (counter <c>too-large</c>); when ORT cannot run the node
/// (counter <c>failed</c>, with the message in the log).</para>
/// </summary>
public sealed class FoldConstantsPass : Pass<FoldConstantsOptions>
{
    private static readonly HashSet<string> NonDeterministic =
    [
        "RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial", "Bernoulli", "Dropout",
    ];

    public override string Name => "fold-constants";

    public override string Summary => "Evaluate nodes whose inputs are all constant (in ONNX Runtime) and replace them by constants.";

    public override PassResult Run(Model model, FoldConstantsOptions options, PassContext context)
    {
        var run = new FoldRun(model, options, context);
        bool changed = false;
        // One sweep folds chains in topological order; a second catches anything a graph listed out of order.
        for (int sweep = 0; sweep < 8; sweep++)
        {
            bool any = false;
            foreach (var scope in GraphScope.All(model, includeFunctions: false))
                foreach (var node in scope.Graph.Nodes)
                {
                    context.Cancellation.ThrowIfCancellationRequested();
                    if (node.Graph is not null) any |= run.TryFold(scope, node);
                }
            changed |= any;
            if (!any) break;
        }
        return PassResult.From(changed);
    }

    /// <summary>State of one run: the model, the evaluation cache and the values inner graphs list as outputs.</summary>
    private sealed class FoldRun(Model model, FoldConstantsOptions options, PassContext context)
    {
        private readonly HashSet<Value> _listed = ValueRules.ListedByInnerGraphs(model);
        private readonly Dictionary<string, Tensor[]?> _cache = new(StringComparer.Ordinal);

        public bool TryFold(GraphScope scope, Node node)
        {
            if (node.Outputs.Count == 0 || node.Outputs.All(o => o is null) || node.Outputs.Any(o => o is not null && _listed.Contains(o)))
                return false;
            Tensor?[]? results = options.FoldShapes ? ShapeOf(node, scope.Opset) : null;
            if (results is not null) context.Count("shapes-folded");
            else
            {
                if (!IsFoldable(node)) return false;
                var inputs = new Tensor?[node.Inputs.Count];
                for (int i = 0; i < inputs.Length; i++)
                {
                    if (node.Inputs[i] is not { } v) continue;
                    if (ValueRules.FixedConstant(v) is not { } t) return false;
                    inputs[i] = t;
                }
                if (inputs.All(t => t is null)) return false;
                long inputBytes = inputs.Where(t => t is not null).Distinct(ReferenceEqualityComparer.Instance)
                    .Sum(t => ((Tensor)t!).ByteLength);
                if (EstimateOutputBytes(node, inputs) is { } estimate && !SizeAllowed(estimate, inputBytes))
                {
                    context.Count("too-large");
                    return false;
                }
                results = Evaluate(node, inputs);
                if (results is null) return false;
                long outputBytes = results.Sum(t => t?.ByteLength ?? 0);
                if (!SizeAllowed(outputBytes, inputBytes))
                {
                    context.Count("too-large");
                    return false;
                }
                context.Count("folded");
            }
            Replace(scope.Graph, node, results);
            return true;
        }

        private bool SizeAllowed(long outputBytes, long inputBytes) =>
            outputBytes <= options.MaxOutputBytes && (outputBytes <= inputBytes || outputBytes <= options.SmallOutputBytes);

        private bool IsFoldable(Node node)
        {
            if (!node.IsDefaultDomain || ConstantNode.IsConstantNode(node) || node.Subgraphs.Any()) return false;
            if (NonDeterministic.Contains(node.OpType)) return false;
            if (node.OpType.StartsWith("Sequence", StringComparison.Ordinal) || node.OpType.StartsWith("Optional", StringComparison.Ordinal)
                || node.OpType is "SplitToSequence" or "ConcatFromSequence")
                return false;
            if (node.OpType == "DequantizeLinear" && !options.FoldDequantizeLinear) return false;
            // A model-local function may shadow an op name; its body is not ours to evaluate here.
            if (model.Functions.Any(f => f.Name == node.OpType && f.Domain is "" or "ai.onnx")) return false;
            return node.Attributes.All(a => a.RefAttrName is null);
        }

        /// <summary>
        /// The value of Shape/Size when the dimensions they report are known, else null. Shape's start/end (opset 15)
        /// are clamped like ONNX does; a start past the end gives an empty shape.
        /// </summary>
        private static Tensor?[]? ShapeOf(Node node, long opset)
        {
            if (!node.IsDefaultDomain || node.OpType is not ("Shape" or "Size") || node.Input(0)?.Shape is not { } shape) return null;
            if (node.OpType == "Size")
                return shape.ToArray() is { } all ? [Tensor.FromInt64s([all.Aggregate(1L, (a, b) => a * b)], [])] : null;
            int rank = shape.Rank;
            long start = opset >= 15 ? node.GetInt("start", 0) : 0;
            long end = opset >= 15 ? node.GetInt("end", rank) : rank;
            if (start < 0) start += rank;
            if (end < 0) end += rank;
            start = Math.Clamp(start, 0, rank);
            end = Math.Clamp(end, 0, rank);
            var dims = new List<long>();
            for (long i = start; i < end; i++)
            {
                if (shape[(int)i].Value is not { } d) return null;
                dims.Add(d);
            }
            return [Tensor.FromInt64s(dims.ToArray(), dims.Count)];
        }

        /// <summary>
        /// Output bytes known before running, for ops that make large tensors from small operands (so ORT is never
        /// asked to build a huge one just to throw it away), or from the recorded output types; null when unknown.
        /// </summary>
        private static long? EstimateOutputBytes(Node node, Tensor?[] inputs)
        {
            long total = 0;
            foreach (var o in node.Outputs)
            {
                if (o is null) continue;
                long? count = null;
                if (o.Shape?.ToArray() is { } dims) count = Product(dims);
                else if (node.Outputs.Count == 1)
                {
                    count = node.OpType switch
                    {
                        "ConstantOfShape" => TensorValues.Ints(inputs[0]) is { } s ? Product(s) : null,
                        "Expand" when inputs[0] is { } x => TensorValues.Ints(inputs.ElementAtOrDefault(1)) is { } s ? Product(Broadcast(x.Dims, s)) : null,
                        "Tile" when inputs[0] is { } x => TensorValues.Ints(inputs.ElementAtOrDefault(1)) is { } r && r.Length == x.Rank
                            ? Product(x.Dims.Zip(r, (d, k) => d * Math.Max(k, 0)).ToArray()) : null,
                        _ => null,
                    };
                }
                if (count is null) return null;
                var type = o.ElementType ?? (node.OpType == "ConstantOfShape"
                    ? node.GetAttribute("value")?.Value is Tensor v ? v.ElementType : DataType.Float
                    : inputs[0]?.ElementType);
                if (type is null or DataType.String) return null;
                // Absurd shapes (a damaged model) count as too large to fold rather than overflowing.
                try { total = checked(total + type.Value.ByteLength(count.Value)); }
                catch (OverflowException) { return long.MaxValue; }
            }
            return total;
        }

        private static long Product(IReadOnlyList<long> dims)
        {
            long n = 1;
            foreach (long d in dims) n = d <= 0 ? 0 : (n > long.MaxValue / d ? long.MaxValue : n * d);
            return n;
        }

        private static long[] Broadcast(IReadOnlyList<long> a, IReadOnlyList<long> b)
        {
            int rank = Math.Max(a.Count, b.Count);
            var result = new long[rank];
            for (int i = 0; i < rank; i++)
            {
                long x = i - (rank - a.Count) is int ia && ia >= 0 ? a[ia] : 1;
                long y = i - (rank - b.Count) is int ib && ib >= 0 ? b[ib] : 1;
                result[i] = x == 1 ? y : x;
            }
            return result;
        }

        /// <summary>Runs the node alone in ORT (cached by content), or null when ORT cannot.</summary>
        private Tensor[]? Evaluate(Node node, Tensor?[] inputs)
        {
            string key = CacheKey(node, inputs);
            if (_cache.TryGetValue(key, out var cached))
            {
                context.Count("cache-hits");
                return cached;
            }
            Tensor[]? results;
            try
            {
                results = RunAlone(node, inputs);
                context.Count("evaluated");
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                context.Count("failed");
                context.Log($"fold-constants: cannot evaluate {node}: {e.Message}");
                results = null;
            }
            _cache[key] = results;
            return results;
        }

        /// <summary>A one-node model: the inputs as initializers, the node's present outputs as graph outputs.</summary>
        private Tensor[] RunAlone(Node node, Tensor?[] inputs)
        {
            var graph = new Graph { Name = "fold" };
            var values = inputs.Select((t, i) => t is null ? null : graph.AddConstant(t, $"input_{i}")).ToList();
            var outputNames = node.Outputs.Select((o, i) => o is null ? "" : $"output_{i}").ToList();
            var copy = new Node(node.OpType, values, node.Outputs.Count, node.Domain, node.Attributes, "fold", outputNames);
            graph.Append(copy);
            foreach (var o in copy.Outputs)
                if (o is not null) graph.Outputs.Add(o);
            // IR 4 is the first in which initializers need not be listed as inputs.
            using var single = new Model(graph) { IrVersion = Math.Max(model.IrVersion, 4) };
            single.OpsetImports.AddRange(model.OpsetImports);
            var outputs = ModelRunner.RunOnce(single, new Dictionary<string, Tensor>(), context.Runner with { Optimization = OptimizationLevel.None });
            var results = new Tensor[node.Outputs.Count];
            for (int i = 0; i < results.Length; i++)
            {
                if (node.Outputs[i] is not { } original) continue;
                var t = outputs[$"output_{i}"];
                if (original.ElementType is { } declared && declared != t.ElementType)
                    throw new OnnxQuantException($"ORT produced {t.ElementType.OnnxName()} for {original}, declared {declared.OnnxName()}.");
                results[i] = t;
            }
            return results;
        }

        private static string CacheKey(Node node, Tensor?[] inputs)
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            void Add(string s) => hash.AppendData(Encoding.UTF8.GetBytes(s + "\u0001"));
            Add(node.Domain);
            Add(node.OpType);
            Add(node.Outputs.Count.ToString(System.Globalization.CultureInfo.InvariantCulture));
            foreach (var a in node.Attributes.OrderBy(a => a.Name, StringComparer.Ordinal))
            {
                Add(a.Name);
                Add(((int)a.Kind).ToString(System.Globalization.CultureInfo.InvariantCulture));
                switch (a.Value)
                {
                    case Tensor t: AddTensor(hash, t); break;
                    case Tensor[] ts: foreach (var t in ts) AddTensor(hash, t); break;
                    case byte[] s: hash.AppendData(s); break;
                    case byte[][] ss: foreach (var s in ss) { Add(s.Length.ToString(System.Globalization.CultureInfo.InvariantCulture)); hash.AppendData(s); } break;
                    // float, long, float[] and long[] print exactly (round-trip formats); types print as records.
                    default: Add(a.ToString()); break;
                }
            }
            foreach (var t in inputs)
            {
                if (t is null) Add("-");
                else AddTensor(hash, t);
            }
            return Convert.ToHexString(hash.GetHashAndReset());
        }

        private static void AddTensor(IncrementalHash hash, Tensor t)
        {
            hash.AppendData(Encoding.UTF8.GetBytes($"{(int)t.ElementType}{Tensor.FormatDims(t.Dims)}\u0001"));
            if (t.ElementType == DataType.String)
                foreach (var s in t.Strings)
                {
                    hash.AppendData(BitConverter.GetBytes(s.Length));
                    hash.AppendData(s);
                }
            else hash.AppendData(t.RawData.Span);
        }

        /// <summary>Puts constants in place of the node's outputs, removes it, and drops input constants left unread.</summary>
        private void Replace(Graph graph, Node node, Tensor?[] results)
        {
            var inputs = node.Inputs.Where(v => v is not null).Distinct(ReferenceEqualityComparer.Instance).Cast<Value>().ToList();
            for (int i = 0; i < node.Outputs.Count; i++)
            {
                if (node.Outputs[i] is not { } output || results[i] is not { } tensor) continue;
                var constant = graph.AddConstant(tensor, output.Name);
                constant.DocString = output.DocString;
                ValueRules.Replace(output, constant);
            }
            graph.Remove(node);
            foreach (var v in inputs)
            {
                if (!ValueRules.IsUnused(v, _listed) || v.IsGraphInput) continue;
                if (v.Const is not null && v.Graph is { } owner)
                {
                    owner.RemoveConstant(v);
                    context.Count("constants-removed");
                }
                else if (v.Producer is { } p && ConstantNode.IsConstantNode(p) && p.Graph is { } pg)
                {
                    pg.Remove(p);
                    context.Count("constants-removed");
                }
            }
        }
    }
}
