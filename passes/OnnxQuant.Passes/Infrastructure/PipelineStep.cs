namespace OnnxQuant.Passes;

/// <summary>One step of a pipeline: a <see cref="PassStep"/> or a <see cref="FixedPointStep"/>.</summary>
public abstract class PipelineStep
{
    private protected PipelineStep(SourceLocation? location) => Location = location;

    /// <summary>Where the step was written (a recipe line), for error messages; null for pipelines built in code.</summary>
    public SourceLocation? Location { get; }

    /// <summary>The passes this step runs, in order, groups flattened.</summary>
    public abstract IEnumerable<PassStep> Passes { get; }

    /// <summary>"'name' (file:line:col)" — how messages refer to the step.</summary>
    internal string Describe(string what) => Location is null ? what : $"{what} ({Location})";
}
