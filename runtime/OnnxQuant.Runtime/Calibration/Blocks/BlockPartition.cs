using OnnxQuant.Ir;

namespace OnnxQuant.Runtime.Calibration.Blocks;

/// <summary>
/// Cuts a model's main graph into blocks that run one after another, each needing only what the blocks before it
/// produced: the basis of block-wise calibration (<see cref="BlockwiseCollector"/>).
/// <para>
/// A cut is a boundary between two nodes of the (topologically ordered) node list; the values live across it —
/// produced before, read after or a graph output — separate the graph, since every path from before the cut to after
/// it passes through one of them. Graph inputs are live everywhere they are read and are carried along, so they do not
/// count. The usable cuts are those with the fewest live values: in a transformer, the residual stream between two
/// blocks. Side values do not count either — values computed without weights (rotary cos/sin from the position ids
/// or the input's shape, an expanded attention mask) and values live across more than half of the graph (a
/// table gathered once for every layer, a long skip connection) — and are carried along like the graph inputs. The stretches between usable cuts are grouped, in order,
/// into blocks of at most <c>targetBlockBytes</c> of weights (a stretch larger than that is a block on its own).
/// </para>
/// <para>
/// No usable cut (<see cref="TryCreate"/> returns null with a reason): a graph with control flow (If/Loop/Scan bodies
/// read outer values the cut would have to carry), or a graph with fewer than two nodes.
/// </para>
/// </summary>
public sealed class BlockPartition
{
    private BlockPartition(IReadOnlyList<GraphBlock> blocks, int liveAtCuts)
    {
        Blocks = blocks;
        LiveValuesAtCuts = liveAtCuts;
    }

    /// <summary>A constant at least this large is a weight; values computed without one are side values.</summary>
    public const long WeightBytes = 4096;

    public IReadOnlyList<GraphBlock> Blocks { get; }

    /// <summary>How many values cross each usable cut besides graph inputs and side values.</summary>
    public int LiveValuesAtCuts { get; }

    /// <summary>The partition of <paramref name="model"/>'s main graph, or null with the reason there is none.</summary>
    public static BlockPartition? TryCreate(Model model, long targetBlockBytes, out string? reason)
    {
        if (targetBlockBytes <= 0) throw new OnnxQuantException($"The block size for block-wise calibration must be positive (got {targetBlockBytes} bytes).");
        var graph = model.Graph;
        var nodes = graph.Nodes.ToList();
        reason = null;
        if (nodes.FirstOrDefault(n => n.Subgraphs.Any()) is { } control)
        {
            reason = $"the graph has control flow ({control}), whose bodies read outer values a cut cannot carry";
            return null;
        }
        if (nodes.Count < 2)
        {
            reason = "the graph has fewer than two nodes";
            return null;
        }
        var position = new Dictionary<Node, int>(nodes.Count);
        for (int i = 0; i < nodes.Count; i++) position[nodes[i]] = i;

        // Each non-constant value: defined at (producer index + 1, or 0 for graph inputs), live until its last reader.
        var lastRead = new Dictionary<Value, int>();
        void Read(Value v, int at) => lastRead[v] = Math.Max(lastRead.GetValueOrDefault(v, -1), at);
        for (int i = 0; i < nodes.Count; i++)
            foreach (var v in nodes[i].Inputs)
                if (v is { IsConstant: false }) Read(v, i);
        foreach (var v in graph.Outputs) if (!v.IsConstant) Read(v, nodes.Count);

        // Side values are carried like graph inputs and do not count: those computed without weights (rotary cos/sin,
        // masks and positions derived from the inputs' shapes), and those live across over half of the graph
        // (tables gathered once and read by every layer; long skip connections).
        var weighted = new HashSet<Value>();
        foreach (var n in nodes)
            if (n.Inputs.Any(v => v is not null && (v.IsConstant ? v.Const!.ByteLength >= WeightBytes : weighted.Contains(v))))
                foreach (var o in n.Outputs) if (o is not null) weighted.Add(o);

        // live[b]: values (not graph inputs, not side values) crossing the boundary b, between nodes b-1 and b (1 ≤ b < count).
        var delta = new int[nodes.Count + 2];
        foreach (var (v, last) in lastRead)
        {
            if (v.Producer is not { } p) continue;
            int from = position[p] + 1;
            if (!weighted.Contains(v) || last - from > nodes.Count / 2) continue;
            if (last >= from) { delta[from]++; delta[last + 1]--; }
        }
        var live = new int[nodes.Count];
        int running = 0;
        for (int b = 0; b < nodes.Count; b++)
        {
            running += delta[b];
            live[b] = running;
        }
        int fewest = int.MaxValue;
        for (int b = 1; b < nodes.Count; b++) fewest = Math.Min(fewest, live[b]);
        var cuts = new List<int> { 0 };
        for (int b = 1; b < nodes.Count; b++) if (live[b] == fewest) cuts.Add(b);
        cuts.Add(nodes.Count);

        // Group the stretches between cuts into blocks by weight bytes.
        var blockBounds = new List<(int Start, int End)>();
        int start = 0;
        var weights = new HashSet<Value>();
        for (int s = 0; s + 1 < cuts.Count; s++)
        {
            var stretch = new HashSet<Value>();
            for (int i = cuts[s]; i < cuts[s + 1]; i++)
                foreach (var v in nodes[i].Inputs)
                    if (v is { IsConstant: true }) stretch.Add(v);
            long merged = weights.Concat(stretch).Distinct().Sum(v => v.Const!.ByteLength);
            if (cuts[s] > start && merged > targetBlockBytes)
            {
                blockBounds.Add((start, cuts[s]));
                start = cuts[s];
                weights.Clear();
            }
            weights.UnionWith(stretch);
        }
        blockBounds.Add((start, nodes.Count));

        var blocks = new List<GraphBlock>();
        foreach (var (from, to) in blockBounds)
        {
            var members = nodes.GetRange(from, to - from);
            var inputs = new List<Value>();
            var outputs = new List<Value>();
            var seen = new HashSet<Value>();
            var constants = new HashSet<Value>();
            foreach (var n in members)
                foreach (var v in n.Inputs)
                {
                    if (v is null) continue;
                    if (v.IsConstant) constants.Add(v);
                    else if ((v.Producer is null || position[v.Producer] < from) && seen.Add(v)) inputs.Add(v);
                }
            foreach (var n in members)
                foreach (var v in n.Outputs)
                    if (v is not null && lastRead.TryGetValue(v, out int last) && last >= to) outputs.Add(v);
            blocks.Add(new GraphBlock(blocks.Count, members, inputs, outputs, constants.Sum(v => v.Const!.ByteLength)));
        }
        return new BlockPartition(blocks, fewest);
    }
}
