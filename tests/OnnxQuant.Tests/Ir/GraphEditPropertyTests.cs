using FsCheck.Xunit;
using OnnxQuant.Ir;
using OnnxQuant.Ir.Building;
using OnnxQuant.Ir.Serialization;
using OnnxQuant.Ir.Verification;

namespace OnnxQuant.Tests.Ir;

/// <summary>
/// Random sequences of edits through the public API keep every invariant. FsCheck generates a script of integers;
/// <see cref="Editor"/> reads it to pick edits and operands, so a failing script shrinks to a short one. Runs are
/// deterministic (fixed replay seed).
/// </summary>
public class GraphEditPropertyTests
{
    private const string Seed = "(20251123,1234567)";

    [Property(MaxTest = 100, Replay = Seed, QuietOnSuccess = true)]
    public void RandomEdits_KeepTheVerifierGreen(int[] script)
    {
        using var model = BaseModel();
        var editor = new Editor(model, script);
        while (editor.HasMore)
        {
            editor.Step();
            var report = Verifier.Verify(model);
            Assert.True(report.IsValid, $"after edits:\n{editor.Log}\n{report}");
        }
        // Names stay unique and every read resolves, so the model also survives the writer and the reader.
        using var again = OnnxReader.Read(OnnxWriter.ToBytes(model));
        Assert.True(Verifier.Verify(again).IsValid);
        Assert.Equal(model.Graph.NodeCount, again.Graph.NodeCount);
    }

    [Property(MaxTest = 100, Replay = Seed, QuietOnSuccess = true)]
    public void SortTopologically_LeavesAGraphInOrderUnchanged(int[] script)
    {
        using var model = BaseModel();
        var editor = new Editor(model, script);
        while (editor.HasMore) editor.Step();
        foreach (var g in model.AllGraphs().ToList())
        {
            var before = g.Nodes.ToList();
            g.SortTopologically();
            Assert.Equal(before, g.Nodes.ToList());
        }
    }

    /// <summary>
    /// x, c inputs; k0, k1 constants; a = Add(x, k0); b = Mul(a, k1); r = If(c) {then: Neg(a)} {else: Add(b, k0)};
    /// s = Relu(r); outputs s and b.
    /// </summary>
    private static Model BaseModel()
    {
        var g = new GraphBuilder();
        var x = g.Input("x", DataType.Float, 2);
        var c = g.Input("c", DataType.Bool);
        var k0 = g.Constant(Tensor.FromFloats([1, 2], 2), "k0");
        var k1 = g.Constant(Tensor.FromFloats([3, 4], 2), "k1");
        var a = g.Op("Add", x, k0);
        var b = g.Op("Mul", a, k1);
        var then = g.Subgraph("then");
        then.Output(then.Op("Neg", a));
        var otherwise = g.Subgraph("else");
        otherwise.Output(otherwise.Op("Add", b, k0));
        var r = g.Op("If", [c], attrs: [Attribute.FromGraph("then_branch", then.Graph), Attribute.FromGraph("else_branch", otherwise.Graph)]);
        g.Output(g.Op("Relu", r), "s");
        g.Output(b, "b");
        return g.Build();
    }

    /// <summary>Applies edits chosen by a script of integers; every edit is legal, or is checked to be refused.</summary>
    private sealed class Editor(Model model, int[] script)
    {
        private static readonly string[] UnaryOps = ["Relu", "Neg", "Abs"];
        private static readonly string[] BinaryOps = ["Add", "Mul", "Sub"];
        private int _position;
        private readonly List<string> _log = [];

        public bool HasMore => _position < script.Length;

        public string Log => string.Join("\n", _log);

        /// <summary>
        /// A number below <paramref name="n"/> from the next script entry (0 once the script is used up). Entries are
        /// mixed with their position (SplitMix64) because FsCheck's integers are small and would mostly pick 0.
        /// </summary>
        private int Next(int n)
        {
            if (_position >= script.Length) return 0;
            ulong z = (uint)script[_position] + 0x9E3779B97F4A7C15UL * (ulong)++_position;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return (int)((z ^ (z >> 31)) % (ulong)n);
        }

        private T Pick<T>(IReadOnlyList<T> items) => items[Next(items.Count)];

        /// <summary>Values a node placed before <paramref name="anchor"/> (null: at the end) of <paramref name="g"/> may read.</summary>
        private static List<Value> Visible(Graph g, Node? anchor)
        {
            var values = new List<Value>(g.Inputs);
            values.AddRange(g.Constants.Where(c => !values.Contains(c)));
            foreach (var n in g.Nodes)
            {
                if (n == anchor) break;
                values.AddRange(n.Outputs.OfType<Value>());
            }
            if (g.OwnerNode is { } owner) values.AddRange(Visible(g.Parent!, owner));
            return values;
        }

        private static bool IsDead(Node n) => n.Outputs.All(o => o is null || (o.Uses.Count == 0 && !o.IsAnyGraphOutput));

        public void Step()
        {
            var graphs = model.AllGraphs().ToList();
            var g = Pick(graphs);
            var nodes = g.Nodes.ToList();
            int kind = Next(9);
            switch (kind)
            {
                case 0: // insert a node reading existing values
                {
                    var anchor = nodes.Count == 0 ? null : nodes.ElementAtOrDefault(Next(nodes.Count + 1));
                    var visible = Visible(g, anchor);
                    var node = Next(2) == 0
                        ? new Node(Pick(UnaryOps), [Pick(visible)])
                        : new Node(Pick(BinaryOps), [Pick(visible), Pick(visible)]);
                    if (anchor is null) g.Append(node); else g.InsertBefore(anchor, node);
                    _log.Add($"insert {node} reading {string.Join(",", node.Inputs)} in {g.Name}");
                    break;
                }
                case 1 when nodes.Count > 0: // replace an input
                {
                    var n = Pick(nodes);
                    if (n.Inputs.Count == 0) break;
                    int slot = Next(n.Inputs.Count);
                    var replacement = Pick(Visible(g, n));
                    n.ReplaceInput(slot, replacement);
                    _log.Add($"input {slot} of {n} := {replacement}");
                    break;
                }
                case 2 when nodes.Count > 0: // replace all uses with a value defined before the producer
                {
                    var n = Pick(nodes);
                    var v = n.Outputs[0]!;
                    var replacement = Pick(Visible(g, n));
                    _log.Add($"replace all uses of {v} with {replacement}");
                    v.ReplaceAllUsesWith(replacement);
                    break;
                }
                case 3 when nodes.Count > 0: // remove a node: refused while it is used
                {
                    var n = Pick(nodes);
                    if (IsDead(n))
                    {
                        g.Remove(n);
                        _log.Add($"remove {n} from {g.Name}");
                    }
                    else
                    {
                        Assert.Throws<InvalidOperationException>(() => g.Remove(n));
                        Assert.Same(g, n.Graph);
                    }
                    break;
                }
                case 4: // add a constant
                {
                    var c = g.AddConstant(Tensor.Scalar((float)Next(10)), Next(2) == 0 ? null : "k0");
                    _log.Add($"add constant {c} to {g.Name}");
                    break;
                }
                case 5 when g.Constants.Count > 0: // remove a constant: refused while it is used
                {
                    var c = Pick(g.Constants);
                    if (c.Uses.Count == 0 && !c.IsAnyGraphOutput && !g.Inputs.Contains(c))
                    {
                        g.RemoveConstant(c);
                        _log.Add($"remove constant {c} from {g.Name}");
                    }
                    else
                    {
                        Assert.Throws<InvalidOperationException>(() => g.RemoveConstant(c));
                        Assert.Contains(c, g.Constants);
                    }
                    break;
                }
                case 6 when nodes.Count > 1: // move a node anywhere, then sort
                {
                    var n = Pick(nodes);
                    var anchor = Pick(nodes);
                    g.MoveBefore(anchor, n);
                    g.SortTopologically();
                    _log.Add($"move {n} before {anchor} and sort {g.Name}");
                    break;
                }
                case 7: // insert an If whose branch, built apart, reads an outer value
                {
                    var anchor = nodes.ElementAtOrDefault(Next(nodes.Count + 1));
                    var visible = Visible(g, anchor);
                    var body = new Graph { Name = "built_apart" };
                    var inner = body.Append(new Node(Pick(UnaryOps), [Pick(visible)]));
                    body.Outputs.Add(inner.Output);
                    var node = new Node("If", [Pick(visible)], attributes: [Attribute.FromGraph("then_branch", body)]);
                    if (anchor is null) g.Append(node); else g.InsertBefore(anchor, node);
                    _log.Add($"insert If reading {inner.Inputs[0]} in its branch, in {g.Name}");
                    break;
                }
                case 8: // remove dead nodes while iterating
                {
                    int removed = 0;
                    foreach (var n in g.Nodes.Reverse())
                        if (IsDead(n)) { g.Remove(n); removed++; }
                    foreach (var n in g.Nodes)
                        if (IsDead(n)) { g.Remove(n); removed++; }
                    _log.Add($"remove {removed} dead nodes from {g.Name}");
                    break;
                }
            }
        }
    }
}
