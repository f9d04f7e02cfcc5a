namespace OnnxQuant.Fuzzing;

/// <summary>
/// One fuzz case: which real model is mutated, how, and which command runs on it. Made from (seed, id) alone, so any
/// case can be made again (<c>--from ID --count 1 --keep DIR</c>) from a campaign's report.
/// </summary>
public sealed record FuzzCase(long Id, FuzzBase Base, string Command, byte[] Model, string Description, int? TruncateDataTo)
{
    /// <summary>The commands a campaign can run: <c>inspect</c>, <c>convert</c> and the <c>w8a8</c> pipeline.</summary>
    public static readonly string[] Commands = ["inspect", "convert", "w8a8"];

    public static FuzzCase Make(int seed, long id, IReadOnlyList<FuzzBase> bases, IReadOnlyList<string> commands)
    {
        // One generator per case: a case does not depend on the cases before it.
        var random = new Random(CaseSeed(seed, id));
        string command = commands[(int)(id % commands.Count)];
        var candidates = command == "w8a8" ? bases.Where(b => b.PipelineArguments is not null).ToList() : bases.ToList();
        var chosen = candidates[random.Next(candidates.Count)];
        var (bytes, description) = ModelMutator.Mutate(chosen.Bytes, random);
        int? truncate = null;
        if (chosen.DataFile is not null && random.Next(10) == 0)
        {
            truncate = random.Next(chosen.DataFileLength);
            description += $"; data file truncated to {truncate} bytes";
        }
        return new FuzzCase(id, chosen, command, bytes, description, truncate);
    }

    /// <summary>SplitMix64 of (seed, id): the same in every process (HashCode is randomized per process).</summary>
    private static int CaseSeed(int seed, long id)
    {
        ulong z = unchecked((ulong)seed * 0x9E3779B97F4A7C15UL + (ulong)id + 0x632BE59BD9B4E019UL);
        z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL);
        z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EBUL);
        return (int)((z ^ (z >> 31)) & 0x7FFFFFFF);
    }
}

/// <summary>A real model the fuzzer mutates: its bytes, an external data file beside it (or none), and the options the
/// <c>w8a8</c> pipeline needs for it (null: not used for pipeline cases).</summary>
public sealed record FuzzBase(string Name, byte[] Bytes, string? DataFile, string[]? PipelineArguments)
{
    public int DataFileLength => DataFile is null ? 0 : (int)new FileInfo(DataFile).Length;
}
