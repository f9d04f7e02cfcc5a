using System.Collections;
using System.Globalization;
using System.Reflection;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace OnnxQuant.Passes.Recipes;

/// <summary>
/// Sets a pass's options object from a recipe mapping, strictly: every key must be an option, every value must have
/// the option's type. YAML types are taken literally — <c>"3"</c> (quoted) is a string, not an int.
/// </summary>
internal static class OptionBinder
{
    private static readonly NullabilityInfoContext Nullability = new();

    public static object Bind(PassInfo pass, YamlMappingNode? mapping, string file)
    {
        object options = pass.CreateDefaultOptions();
        if (mapping is null) return options;
        foreach (var (keyNode, valueNode) in mapping.Children)
        {
            string key = RecipeLoader.ScalarKey(keyNode, file, $"an option name of pass '{pass.Name}'");
            var option = pass.Options.FirstOrDefault(o => o.Name == key);
            if (option is null)
            {
                string valid = pass.Options.Count == 0
                    ? $"Pass '{pass.Name}' takes no options."
                    : $"Options of '{pass.Name}': {string.Join(", ", pass.Options.Select(o => $"{o.Name} ({o.TypeName})"))}.";
                throw new RecipeException(RecipeLoader.At(keyNode, file),
                    $"Pass '{pass.Name}' has no option '{key}'.{NameSuggestions.DidYouMean(key, pass.Options.Select(o => o.Name))} {valid}");
            }
            bool nullable = Nullability.Create(option.Property).WriteState == NullabilityState.Nullable;
            object? value = Convert(valueNode, option.Type, nullable, file, $"Option '{key}' of pass '{pass.Name}'");
            option.Property.SetValue(options, value);
        }
        // Options that check themselves as a whole (e.g. smooth-quant's 'alpha: auto' or a number) fail at the mapping.
        if (options is IOptionRecord record && record.Problem() is { } problem)
            throw new RecipeException(RecipeLoader.At(mapping, file), $"Pass '{pass.Name}': {problem}");
        return options;
    }

    private static object? Convert(YamlNode node, Type type, bool nullable, string file, string what)
    {
        if (IsNull(node))
        {
            if (nullable || Nullable.GetUnderlyingType(type) is not null) return null;
            throw Mismatch(node, type, file, what, "nothing (null)");
        }
        if (PassOptionInfo.ListElementType(type) is { } element)
        {
            if (node is not YamlSequenceNode sequence) throw Mismatch(node, type, file, what, Describe(node));
            var list = (IList)Activator.CreateInstance(typeof(List<>).MakeGenericType(element))!;
            bool elementNullable = Nullable.GetUnderlyingType(element) is not null;
            foreach (var item in sequence.Children)
                list.Add(Convert(item, element, elementNullable, file, what + " (a list item)"));
            if (!type.IsArray) return list;
            var array = Array.CreateInstance(element, list.Count);
            list.CopyTo(array, 0);
            return array;
        }
        if (PassOptionInfo.IsRecord(type)) return BindRecord(node, type, file, what);
        var t = Nullable.GetUnderlyingType(type) ?? type;
        if (node is not YamlScalarNode scalar) throw Mismatch(node, type, file, what, Describe(node));
        string text = scalar.Value ?? "";
        bool plain = scalar.Style is ScalarStyle.Plain or ScalarStyle.Any;
        if (t == typeof(string)) return text;
        if (t.IsEnum)
        {
            if (EnumSpelling.TryParse(t, text, out object? member)) return member!;
            var names = PassOptionInfo.EnumNames(t);
            throw new RecipeException(RecipeLoader.At(node, file),
                $"{what} is one of {string.Join(", ", names)}; '{text}' is not.{NameSuggestions.DidYouMean(text, names)}");
        }
        // Numbers and booleans must be written as YAML numbers and booleans, not quoted strings.
        if (!plain) throw Mismatch(node, type, file, what, $"the quoted string '{text}'");
        if (t == typeof(bool))
        {
            if (text.Equals("true", StringComparison.OrdinalIgnoreCase)) return true;
            if (text.Equals("false", StringComparison.OrdinalIgnoreCase)) return false;
        }
        else if (t == typeof(int) || t == typeof(long))
        {
            if (long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long l))
            {
                if (t == typeof(long)) return l;
                if (l is >= int.MinValue and <= int.MaxValue) return (int)l;
                throw new RecipeException(RecipeLoader.At(node, file), $"{what} is an int; {text} is out of range.");
            }
        }
        else if (t == typeof(double) || t == typeof(float))
        {
            double? d = text switch
            {
                ".inf" or ".Inf" or ".INF" or "+.inf" => double.PositiveInfinity,
                "-.inf" or "-.Inf" or "-.INF" => double.NegativeInfinity,
                ".nan" or ".NaN" or ".NAN" => double.NaN,
                _ => double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) ? v : null,
            };
            if (d is { } number) return t == typeof(float) ? (float)number : number;
        }
        throw Mismatch(node, type, file, what, $"'{text}'");
    }

    /// <summary>A mapping bound to a fresh <paramref name="type"/> (an <see cref="IOptionRecord"/>), checked as a whole.</summary>
    private static object BindRecord(YamlNode node, Type type, string file, string what)
    {
        var fields = PassOptionInfo.For(type);
        string valid = string.Join(", ", fields.Select(f => $"{f.Name} ({f.TypeName})"));
        if (node is not YamlMappingNode mapping)
            throw new RecipeException(RecipeLoader.At(node, file), $"{what} is a mapping with the keys {valid}; found {Describe(node)}.");
        object record = Activator.CreateInstance(type)!;
        foreach (var (keyNode, valueNode) in mapping.Children)
        {
            string key = RecipeLoader.ScalarKey(keyNode, file, "a key of " + what);
            var field = fields.FirstOrDefault(f => f.Name == key)
                ?? throw new RecipeException(RecipeLoader.At(keyNode, file),
                    $"{what} has no key '{key}'.{NameSuggestions.DidYouMean(key, fields.Select(f => f.Name))} Keys: {valid}.");
            bool nullable = Nullability.Create(field.Property).WriteState == NullabilityState.Nullable;
            field.Property.SetValue(record, Convert(valueNode, field.Type, nullable, file, $"'{key}' of {what}"));
        }
        if (((IOptionRecord)record).Problem() is { } problem) throw new RecipeException(RecipeLoader.At(node, file), $"{what}: {problem}");
        return record;
    }

    private static bool IsNull(YamlNode node) =>
        node is YamlScalarNode { Style: ScalarStyle.Plain or ScalarStyle.Any } s && s.Value is null or "" or "~" or "null" or "Null" or "NULL";

    private static string Describe(YamlNode node) => node switch
    {
        YamlMappingNode => "a mapping",
        YamlSequenceNode => "a list",
        YamlScalarNode s => $"'{s.Value}'",
        _ => "something else",
    };

    private static RecipeException Mismatch(YamlNode node, Type type, string file, string what, string found)
    {
        string typeName = PassOptionInfo.Describe(type);
        string article = typeName.StartsWith("int", StringComparison.Ordinal) || typeName.StartsWith("enum", StringComparison.Ordinal) ? "an" : "a";
        return new RecipeException(RecipeLoader.At(node, file), $"{what} is {article} {typeName}; found {found}.");
    }
}
