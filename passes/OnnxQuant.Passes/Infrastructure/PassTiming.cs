namespace OnnxQuant.Passes;

/// <summary>All runs of one pass in a pipeline, added up.</summary>
public sealed record PassTiming(string Pass, int Runs, int Changed, TimeSpan Elapsed);
