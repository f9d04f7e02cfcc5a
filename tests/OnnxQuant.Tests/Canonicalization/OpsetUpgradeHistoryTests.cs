using OnnxQuant.Passes.Canonicalization.OpsetUpgrade;

namespace OnnxQuant.Tests.Canonicalization;

/// <summary>The schema-change table and the converters stay in step.</summary>
public class OpsetUpgradeHistoryTests
{
    /// <summary>Breaking changes deliberately left without a converter: upgrading across them is an error.</summary>
    private static readonly HashSet<(string, int)> Unconverted = [("Scan", 9)];

    [Fact]
    public void EveryBreakingChange_HasAConverter_OrIsAKnownRefusal()
    {
        var missing = OpsetHistory.All
            .SelectMany(row => row.BreakingVersions.Select(v => (row.OpType, v)))
            .Where(change => OpConverters.Find(change.OpType, change.v) is null && !Unconverted.Contains(change))
            .ToList();
        Assert.Empty(missing);
    }

    [Fact]
    public void EveryConverter_HandlesABreakingChangeOfTheTable()
    {
        foreach (var (op, version) in OpConverters.Handled)
            Assert.True(OpsetHistory.Find(op)?.IsBreaking(version), $"{op}@{version}");
    }

    [Theory]
    [InlineData("Softmax", 12, 11)]
    [InlineData("Softmax", 13, 13)]
    [InlineData("Clip", 9, 6)]
    [InlineData("ReduceMean", 17, 13)]
    [InlineData("Upsample", 10, 10)]
    [InlineData("LayerNormalization", 17, 17)]
    public void SchemaAt_IsTheNewestVersionNotAboveTheOpset(string op, int opset, int schema)
    {
        Assert.Equal(schema, OpsetHistory.Find(op)!.SchemaAt(opset));
    }

    [Fact]
    public void SchemaAt_IsNull_BeforeTheOpExists()
    {
        Assert.Null(OpsetHistory.Find("LayerNormalization")!.SchemaAt(16));
    }

    [Theory]
    [InlineData("Softmax", 11, 21, 13)]
    [InlineData("Softmax", 13, 21, null)]
    [InlineData("Split", 13, 21, 18)]
    [InlineData("ReduceMean", 13, 17, null)]
    [InlineData("Upsample", 10, 21, 10)] // deprecated: replaced even when the model already imports opset 10
    public void NextBreaking_FindsTheFirstChangeOnTheWay(string op, int schema, int target, int? expected)
    {
        Assert.Equal(expected, OpsetHistory.Find(op)!.NextBreaking(schema, target));
    }

    [Theory]
    [InlineData(9, 4)]
    [InlineData(13, 7)]
    [InlineData(17, 8)]
    [InlineData(21, 10)]
    [InlineData(23, 11)]
    public void MinimumIrVersion_FollowsOnnxReleases(int opset, int ir)
    {
        Assert.Equal(ir, OpsetHistory.MinimumIrVersion(opset));
    }
}
