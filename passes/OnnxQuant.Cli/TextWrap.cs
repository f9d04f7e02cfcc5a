using System.Text;

namespace OnnxQuant.Cli;

/// <summary>
/// Word wrapping with a hanging indent, for listings whose continuation lines must stay under their entry
/// (<c>onnxquant passes</c>): Spectre wraps text at the console width but starts continuation lines at column 0.
/// </summary>
internal static class TextWrap
{
    /// <summary>
    /// <paramref name="text"/> as lines of at most <paramref name="width"/> characters, the first indented by
    /// <paramref name="indent"/> spaces and the rest by <paramref name="hang"/>; a word longer than a line is split.
    /// </summary>
    public static IEnumerable<string> Lines(string text, int width, int indent, int hang)
    {
        var line = new StringBuilder(new string(' ', indent));
        int start = indent;
        foreach (string word in Words(text))
        {
            string rest = word;
            while (true)
            {
                bool empty = line.Length == start;
                int room = width - line.Length - (empty ? 0 : 1);
                if (rest.Length <= room)
                {
                    if (!empty) line.Append(' ');
                    line.Append(rest);
                    break;
                }
                if (empty && room > 0)
                {
                    // Longer than a whole line: split it.
                    line.Append(rest[..room]);
                    rest = rest[room..];
                }
                yield return line.ToString().TrimEnd();
                line.Clear().Append(' ', hang);
                start = hang;
            }
        }
        if (line.Length > start) yield return line.ToString().TrimEnd();
    }

    /// <summary>Words split at single spaces; a run of spaces stays with the word before it ("name  summary" keeps its gap).</summary>
    private static List<string> Words(string text)
    {
        var words = new List<string>();
        foreach (string part in text.Split(' '))
        {
            if (part.Length > 0) words.Add(part);
            else if (words.Count > 0) words[^1] += " ";
        }
        return words;
    }
}
