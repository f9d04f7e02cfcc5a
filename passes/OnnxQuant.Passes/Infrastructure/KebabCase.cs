using System.Text;

namespace OnnxQuant.Passes;

/// <summary>Converts C# member names to the kebab-case used in recipes and on the command line.</summary>
public static class KebabCase
{
    /// <summary><c>TargetOpset</c> → <c>target-opset</c>, <c>MaxIRVersion</c> → <c>max-ir-version</c>, <c>Int4</c> → <c>int4</c>, <c>UInt8</c> → <c>uint8</c>.</summary>
    public static string From(string pascal)
    {
        var sb = new StringBuilder(pascal.Length + 4);
        for (int i = 0; i < pascal.Length; i++)
        {
            char c = pascal[i];
            if (char.IsUpper(c))
            {
                bool afterLowerOrDigit = i > 0 && (char.IsLower(pascal[i - 1]) || char.IsDigit(pascal[i - 1]));
                // The last capital of an acronym starts the next word: "IRVersion" → "ir-version".
                bool acronymEnd = i > 0 && char.IsUpper(pascal[i - 1]) && i + 1 < pascal.Length && char.IsLower(pascal[i + 1]);
                if (afterLowerOrDigit || acronymEnd) sb.Append('-');
                sb.Append(char.ToLowerInvariant(c));
            }
            else if (c == '_')
            {
                sb.Append('-');
            }
            else
            {
                sb.Append(c);
            }
        }
        // "UInt8" is one word (uint8, as ONNX spells the type), not the acronym "U" and "Int8".
        return System.Text.RegularExpressions.Regex.Replace(sb.ToString(), "(^|-)u-int", "$1uint");
    }

    /// <summary>True for names such as <c>fold-constants</c>: lower-case words and digits joined by single hyphens.</summary>
    public static bool IsValid(string name) =>
        name.Length > 0 && name[0] is >= 'a' and <= 'z' && name[^1] != '-' && !name.Contains("--") &&
        name.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-');
}
