using OnnxQuant.Ir;
using OnnxQuant.Runtime.Evaluation;

namespace OnnxQuant.Tests.Evaluation;

public class CtcDecoderTests
{
    // Keys a, b, c: class 0 is the blank, 1..3 are a..c, 4 (one past the last key) is a space; 5 classes in all.
    private static readonly CtcDecoder Decoder = new(["a", "b", "c"]);
    private const int Classes = 5;

    /// <summary>Scores [T, C] whose arg-max at step t is path[t] (the others a little lower, not zero).</summary>
    private static float[] Scores(params int[] path)
    {
        var scores = new float[path.Length * Classes];
        for (int t = 0; t < path.Length; t++)
        {
            for (int c = 0; c < Classes; c++) scores[t * Classes + c] = 0.1f * c;
            scores[t * Classes + path[t]] = 5f;
        }
        return scores;
    }

    [Theory]
    [InlineData(new[] { 1, 1, 1 }, "a")]               // repeats collapse
    [InlineData(new[] { 1, 1, 0, 1 }, "aa")]           // a blank separates two equal characters
    [InlineData(new[] { 0, 1, 0, 0, 2, 2, 0 }, "ab")]  // blanks dropped
    [InlineData(new[] { 0, 0, 0 }, "")]                // all blank
    [InlineData(new[] { 1, 4, 2 }, "a b")]             // class 4 = keys.Count + 1 is a space
    [InlineData(new[] { 3, 4, 4, 3 }, "c c")]          // repeated spaces collapse too
    [InlineData(new[] { 2, 0, 2, 2, 3 }, "bbc")]
    public void Decode_TakesArgMax_CollapsesRepeats_ThenDropsBlanks(int[] path, string expected)
    {
        Assert.Equal(expected, Decoder.Decode(Scores(path), Classes));
    }

    [Fact]
    public void Collapse_DropsRepeatsBeforeBlanks()
    {
        Assert.Equal([1, 1, 2], CtcDecoder.Collapse([1, 1, 0, 1, 2, 2]));
        Assert.Equal([3], CtcDecoder.Collapse([0, 3, 3, 0]));
    }

    [Fact]
    public void SpaceIndex_IsOnePastTheLastKey()
    {
        Assert.Equal(4, Decoder.SpaceIndex);
        Assert.Equal("c", Decoder.ToText([3]));
        Assert.Equal(" ", Decoder.ToText([4]));
    }

    [Fact]
    public void PaddleOcrKeys_MakeIndex6624ASpace()
    {
        var ppocr = CtcDecoder.FromKeysFile(SharedPaths.Model("ppocr_keys_v1.txt"));
        Assert.Equal(6623, ppocr.Keys.Count);
        Assert.Equal(6624, ppocr.SpaceIndex);
        Assert.Equal(" ", ppocr.ToText([6624]));
        Assert.Equal(File.ReadLines(SharedPaths.Model("ppocr_keys_v1.txt")).First(), ppocr.ToText([1]));
    }

    [Fact]
    public void Decode_RefusesAKeysFileThatDoesNotFitTheClasses()
    {
        var e = Assert.Throws<OnnxQuantException>(() => Decoder.Decode(new float[4 * 3], 4));
        Assert.Contains("keys file", e.Message);
    }

    [Fact]
    public void ToText_RefusesAClassWithoutAKey()
    {
        Assert.Throws<OnnxQuantException>(() => Decoder.ToText([5]));
    }
}
