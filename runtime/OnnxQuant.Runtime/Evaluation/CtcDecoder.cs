using System.Text;
using OnnxQuant.Ir;

namespace OnnxQuant.Runtime.Evaluation;

/// <summary>
/// Greedy CTC decoding of a text recogniser's output [T, C]: the arg-max class of every time step, then repeats
/// collapsed, then the blank (index 0) dropped. Index i &gt; 0 is line i of the keys file (keys[i − 1]); the index
/// one past the last key is a space (PaddleOCR's convention: 6623 keys, 6625 classes, index 6624 is a space).
/// </summary>
public sealed class CtcDecoder
{
    public const int Blank = 0;

    public CtcDecoder(IReadOnlyList<string> keys)
    {
        Keys = keys;
    }

    public IReadOnlyList<string> Keys { get; }

    /// <summary>The class index that decodes to a space (keys.Count + 1).</summary>
    public int SpaceIndex => Keys.Count + 1;

    /// <summary>Reads one key per line (UTF-8); a trailing newline does not add a key.</summary>
    public static CtcDecoder FromKeysFile(string path)
    {
        if (!File.Exists(path)) throw new OnnxQuantException($"The CTC keys file {path} does not exist (give --keys FILE, one character per line).");
        return new CtcDecoder(File.ReadAllLines(path, Encoding.UTF8));
    }

    /// <summary>Collapses repeats, then drops blanks: [a, a, 0, a, b, b] → [a, a, b].</summary>
    public static List<int> Collapse(ReadOnlySpan<int> path)
    {
        var result = new List<int>();
        int previous = -1;
        foreach (int c in path)
        {
            if (c != previous && c != Blank) result.Add(c);
            previous = c;
        }
        return result;
    }

    /// <summary>The best class of every step of <paramref name="scores"/> (T·C values, row-major [T, C]).</summary>
    public static int[] BestPath(ReadOnlySpan<float> scores, int classes)
    {
        if (classes < 1 || scores.Length % classes != 0)
            throw new OnnxQuantException($"CTC output of {scores.Length} values is not a whole number of steps of {classes} classes.");
        var path = new int[scores.Length / classes];
        for (int t = 0; t < path.Length; t++) path[t] = ArgMax.Of(scores.Slice(t * classes, classes));
        return path;
    }

    public string Decode(ReadOnlySpan<float> scores, int classes)
    {
        if (classes < SpaceIndex + 1)
            throw new OnnxQuantException($"The model's output has {classes} classes, but the keys file has {Keys.Count} keys (needs {Keys.Count + 2} classes: blank, keys, space). Is it the right keys file?");
        return ToText(Collapse(BestPath(scores, classes)));
    }

    public string ToText(IEnumerable<int> indices)
    {
        var text = new StringBuilder();
        foreach (int i in indices)
        {
            if (i == SpaceIndex) text.Append(' ');
            else if (i >= 1 && i <= Keys.Count) text.Append(Keys[i - 1]);
            else throw new OnnxQuantException($"CTC class {i} has no key (the keys file has {Keys.Count} keys; {SpaceIndex} is a space).");
        }
        return text.ToString();
    }
}
