using System.Globalization;
using OnnxQuant.Ir;

namespace OnnxQuant.Runtime.DataSources;

/// <summary>
/// Parses the header of a .npy file: a Python dict literal such as
/// <c>{'descr': '&lt;f4', 'fortran_order': False, 'shape': (256, 1, 28, 28), }</c>, padded with spaces and ending in
/// a newline. Only the three keys NumPy writes are read; a structured dtype (a list for 'descr') is refused.
/// </summary>
internal static class NpyHeader
{
    public static (string Descr, bool FortranOrder, long[] Shape) Parse(string header, string path)
    {
        var p = new Parser(header, path);
        string? descr = null;
        bool? fortran = null;
        long[]? shape = null;
        p.Skip();
        p.Expect('{');
        while (true)
        {
            p.Skip();
            if (p.TryConsume('}')) break;
            string key = p.QuotedString();
            p.Skip();
            p.Expect(':');
            p.Skip();
            switch (key)
            {
                case "descr":
                    if (p.Peek() is '[') throw new OnnxQuantException($"{path} holds a structured array (fields); save each field as its own array.");
                    descr = p.QuotedString();
                    break;
                case "fortran_order":
                    fortran = p.Boolean();
                    break;
                case "shape":
                    shape = p.Tuple();
                    break;
                default:
                    throw p.Error($"unexpected key '{key}'");
            }
            p.Skip();
            if (p.TryConsume(',')) continue;
            p.Skip();
            p.Expect('}');
            break;
        }
        if (descr is null || fortran is null || shape is null)
            throw p.Error("the header lacks 'descr', 'fortran_order' or 'shape'");
        return (descr, fortran.Value, shape);
    }

    private sealed class Parser(string text, string path)
    {
        private int _at;

        public OnnxQuantException Error(string what) =>
            new($"{path}: cannot read the .npy header ({what}): {text.Trim()}");

        public void Skip()
        {
            while (_at < text.Length && char.IsWhiteSpace(text[_at])) _at++;
        }

        public char? Peek() => _at < text.Length ? text[_at] : null;

        public bool TryConsume(char c)
        {
            if (_at < text.Length && text[_at] == c)
            {
                _at++;
                return true;
            }
            return false;
        }

        public void Expect(char c)
        {
            if (!TryConsume(c)) throw Error($"expected '{c}' at offset {_at}");
        }

        public string QuotedString()
        {
            if (_at >= text.Length || text[_at] is not ('\'' or '"')) throw Error($"expected a quoted string at offset {_at}");
            char quote = text[_at++];
            int end = text.IndexOf(quote, _at);
            if (end < 0) throw Error("unterminated string");
            string s = text[_at..end];
            _at = end + 1;
            return s;
        }

        public bool Boolean()
        {
            if (text.AsSpan(_at).StartsWith("True")) { _at += 4; return true; }
            if (text.AsSpan(_at).StartsWith("False")) { _at += 5; return false; }
            throw Error($"expected True or False at offset {_at}");
        }

        public long[] Tuple()
        {
            Expect('(');
            var dims = new List<long>();
            while (true)
            {
                Skip();
                if (TryConsume(')')) break;
                int start = _at;
                while (_at < text.Length && (char.IsDigit(text[_at]) || text[_at] == 'L')) _at++;
                string number = text[start.._at].TrimEnd('L');
                if (!long.TryParse(number, NumberStyles.None, CultureInfo.InvariantCulture, out long d))
                    throw Error($"expected a dimension at offset {start}");
                dims.Add(d);
                Skip();
                if (TryConsume(',')) continue;
                Skip();
                Expect(')');
                break;
            }
            return dims.ToArray();
        }
    }
}
