namespace OnnxQuant.Passes;

/// <summary>
/// How enum values are written in recipes, on the command line and in everything the tool prints: kebab-case of the
/// member (<c>MinMax</c> → <c>min-max</c>, <c>PerChannel</c> → <c>per-channel</c>). Parsing also takes the member
/// name without hyphens in any case (<c>minmax</c>, <c>MinMax</c>), so both spellings users meet work; printing uses
/// one.
/// </summary>
public static class EnumSpelling
{
    public static string Of(Enum value) => KebabCase.From(value.ToString());

    /// <summary>Every member's spelling, in declaration order.</summary>
    public static IReadOnlyList<string> Names(Type enumType) => Enum.GetNames(enumType).Select(KebabCase.From).ToList();

    public static bool TryParse(Type enumType, string text, out object? value)
    {
        foreach (string member in Enum.GetNames(enumType))
            if (string.Equals(KebabCase.From(member), text, StringComparison.OrdinalIgnoreCase) ||
                string.Equals(member, text, StringComparison.OrdinalIgnoreCase))
            {
                value = Enum.Parse(enumType, member);
                return true;
            }
        value = null;
        return false;
    }
}
