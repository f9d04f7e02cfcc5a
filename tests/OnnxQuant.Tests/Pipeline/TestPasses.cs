using System.ComponentModel;
using OnnxQuant.Ir;
using OnnxQuant.Passes;

namespace OnnxQuant.Tests.Pipeline;

/// <summary>Removes one Identity node per run: a fixed-point group needs as many rounds as there are Identities, plus one.</summary>
internal sealed class RemoveOneIdentityPass : Pass<NoOptions>
{
    public override string Name => "remove-one-identity";
    public override string Summary => "Removes the first Identity node.";

    public override PassResult Run(Model model, NoOptions options, PassContext context)
    {
        var identity = model.Graph.Nodes.FirstOrDefault(n => n.OpType == "Identity");
        if (identity is null) return PassResult.Unchanged;
        identity.Output.ReplaceAllUsesWith(identity.Inputs[0]!);
        model.Graph.Remove(identity);
        context.Count("removed");
        return PassResult.Changed;
    }
}

/// <summary>Options of every type a recipe can set.</summary>
internal sealed record AppendOptions
{
    [Description("How many Identity nodes to append.")]
    public int Count { get; init; } = 1;

    public bool Enabled { get; init; } = true;
    public long Big { get; init; }
    public double Scale { get; init; } = 0.5;
    public string Label { get; init; } = "id";
    public string? Note { get; init; }
    public Granularity Granularity { get; init; } = Granularity.PerTensor;
    public IReadOnlyList<int> Axes { get; init; } = [];
    public string[] Names { get; init; } = [];
    public int? Limit { get; init; }
}

internal enum Granularity
{
    PerTensor,
    PerChannel,
}

/// <summary>Appends Identity nodes after the graph's first output; always changes the model when enabled.</summary>
internal sealed class AppendIdentityPass : Pass<AppendOptions>
{
    public override string Name => "append-identity";
    public override string Summary => "Appends Identity nodes to the first graph output.";

    public override PassResult Run(Model model, AppendOptions options, PassContext context)
    {
        if (!options.Enabled) return PassResult.Unchanged;
        for (int i = 0; i < options.Count; i++)
        {
            var old = model.Graph.Outputs[0];
            var node = model.Graph.Append(new Node("Identity", [old]));
            old.ReplaceAllUsesWith(node.Output);
            // ReplaceAllUsesWith also redirected the Identity's own input; point it back at the old value.
            node.ReplaceInput(0, old);
            context.Count("appended");
        }
        return PassResult.Changed;
    }
}

/// <summary>Claims a change every time: a fixed-point group with it never converges.</summary>
internal sealed class AlwaysChangesPass : Pass<NoOptions>
{
    public override string Name => "always-changes";
    public override string Summary => "Reports a change on every run.";
    public override PassResult Run(Model model, NoOptions options, PassContext context) => PassResult.Changed;
}

internal sealed class CrashingPass : Pass<NoOptions>
{
    public override string Name => "crashing";
    public override string Summary => "Fails with an internal error.";
    public override PassResult Run(Model model, NoOptions options, PassContext context) =>
        throw new InvalidOperationException("index out of range in the crashing pass");
}

internal sealed class RejectingPass : Pass<NoOptions>
{
    public override string Name => "rejecting";
    public override string Summary => "Fails with a user error.";
    public override PassResult Run(Model model, NoOptions options, PassContext context) =>
        throw new OnnxQuantException("Node 'conv1' has an unsupported auto_pad; re-export the model with explicit pads.");
}

/// <summary>Moves the last node to the front: its inputs are then read before they are defined.</summary>
internal sealed class BreakOrderPass : Pass<NoOptions>
{
    public override string Name => "break-order";
    public override string Summary => "Breaks topological order (a deliberately broken pass).";

    public override PassResult Run(Model model, NoOptions options, PassContext context)
    {
        model.Graph.MoveBefore(model.Graph.FirstNode!, model.Graph.LastNode!);
        return PassResult.Changed;
    }
}

internal sealed class FakeInsertQdqPass : Pass<NoOptions>
{
    public override string Name => "insert-qdq";
    public override string Summary => "Pretends to insert QuantizeLinear/DequantizeLinear pairs.";
    public override IReadOnlyList<string> Provides => ["qdq"];
    public override PassResult Run(Model model, NoOptions options, PassContext context) => PassResult.Unchanged;
}

internal sealed class FuseQdqPass : Pass<NoOptions>
{
    public override string Name => "fuse-qdq";
    public override string Summary => "Pretends to fuse QDQ pairs into quantized ops.";
    public override IReadOnlyList<string> Requires => ["qdq"];
    public override PassResult Run(Model model, NoOptions options, PassContext context) => PassResult.Unchanged;
}

/// <summary>A registry of the test passes (the built-in one does not know them).</summary>
internal static class TestRegistry
{
    public static PassRegistry Create() => new PassRegistry()
        .Register<RemoveOneIdentityPass>()
        .Register<AppendIdentityPass>()
        .Register<AlwaysChangesPass>()
        .Register<CrashingPass>()
        .Register<RejectingPass>()
        .Register<BreakOrderPass>()
        .Register<FakeInsertQdqPass>()
        .Register<FuseQdqPass>();
}
