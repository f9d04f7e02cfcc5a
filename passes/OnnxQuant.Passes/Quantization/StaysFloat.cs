using System.Text.RegularExpressions;
using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Quantization;

/// <summary>
/// How a quantization pass reports a node it leaves float, the same way in every pass: a counter, a miss for
/// <c>--stats</c> and a log line naming the node and why.
/// </summary>
public static partial class StaysFloat
{
    public static void Report(PassContext context, string pass, string missPattern, Node node, string why, string counter)
    {
        context.Count(counter);
        // --stats sums equal reasons, so the miss drops value names (%name); the log keeps them.
        context.RecordMiss(missPattern, ValueName().Replace(why, "%…"));
        context.Log($"{pass}: {node} stays float: {why}.");
    }

    /// <summary>The counter of a static-QDQ miss: <c>no-range</c> when calibration gave the tensor no range, else <c>skipped</c>.</summary>
    public static string CounterFor(string why) =>
        why.StartsWith("no calibrated range", StringComparison.Ordinal) ? "no-range" : "skipped";

    [GeneratedRegex(@"%\S+")]
    private static partial Regex ValueName();
}
