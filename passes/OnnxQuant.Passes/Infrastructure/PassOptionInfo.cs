using System.Collections;
using System.ComponentModel;
using System.Globalization;
using System.Reflection;

namespace OnnxQuant.Passes;

/// <summary>
/// One option of a pass: a public settable (or init) property of its options class, named in kebab-case
/// (<c>TargetOpset</c> ↔ <c>target-opset</c>). Supported types: bool, int, long, float, double, string, enums,
/// their nullable forms, lists or arrays of those, and lists of <see cref="IOptionRecord"/> classes (mappings in YAML). A <see cref="DescriptionAttribute"/> on the property is shown
/// by <c>onnxquant passes</c>.
/// </summary>
public sealed class PassOptionInfo
{
    private PassOptionInfo(PropertyInfo property, object? defaultValue)
    {
        Property = property;
        Name = KebabCase.From(property.Name);
        DefaultValue = defaultValue;
        Description = property.GetCustomAttribute<DescriptionAttribute>()?.Description;
    }

    public string Name { get; }
    public PropertyInfo Property { get; }
    public Type Type => Property.PropertyType;

    /// <summary>The value a fresh options object has.</summary>
    public object? DefaultValue { get; }

    public string? Description { get; }

    /// <summary>The type as users write it: <c>int</c>, <c>enum (per-tensor|per-channel)</c>, <c>list of string</c>.</summary>
    public string TypeName => Describe(Type);

    public string DefaultText => Format(DefaultValue);

    /// <summary>The options of an options class, in declaration order. Throws for a property type recipes cannot set.</summary>
    public static IReadOnlyList<PassOptionInfo> For(Type optionsType)
    {
        object defaults = Activator.CreateInstance(optionsType)
            ?? throw new InvalidOperationException($"Cannot create {optionsType.Name}: it needs a public parameterless constructor.");
        var options = new List<PassOptionInfo>();
        foreach (var p in optionsType.GetProperties(BindingFlags.Public | BindingFlags.Instance).OrderBy(p => p.MetadataToken))
        {
            if (p.SetMethod is not { IsPublic: true } || p.GetIndexParameters().Length > 0) continue;
            // Records have a compiler-generated EqualityContract; it is protected, so it is skipped above.
            if (!IsSupported(p.PropertyType))
                throw new InvalidOperationException(
                    $"Option {optionsType.Name}.{p.Name} has type {p.PropertyType.Name}, which recipes cannot set. " +
                    "Use bool, int, long, float, double, string, an enum, or a list of those.");
            options.Add(new PassOptionInfo(p, p.GetValue(defaults)));
        }
        var clash = options.GroupBy(o => o.Name).FirstOrDefault(g => g.Count() > 1);
        if (clash is not null)
            throw new InvalidOperationException($"Options of {optionsType.Name} share the kebab-case name '{clash.Key}'.");
        return options;
    }

    /// <summary>Element type of a list or array option, or null for a scalar option.</summary>
    public static Type? ListElementType(Type type)
    {
        if (type.IsArray) return type.GetElementType();
        if (!type.IsGenericType) return null;
        var def = type.GetGenericTypeDefinition();
        return def == typeof(List<>) || def == typeof(IReadOnlyList<>) || def == typeof(IList<>) ||
               def == typeof(IEnumerable<>) || def == typeof(IReadOnlyCollection<>) || def == typeof(ICollection<>)
            ? type.GetGenericArguments()[0]
            : null;
    }

    private static bool IsSupported(Type type) =>
        ListElementType(type) is { } element ? IsScalar(element) || IsRecord(element) : IsScalar(type);

    /// <summary>An <see cref="IOptionRecord"/> class: recipes write a list of them as a list of mappings.</summary>
    internal static bool IsRecord(Type type) =>
        type.IsClass && typeof(IOptionRecord).IsAssignableFrom(type) && type.GetConstructor(Type.EmptyTypes) is not null;

    private static bool IsScalar(Type type)
    {
        var t = Nullable.GetUnderlyingType(type) ?? type;
        return t == typeof(bool) || t == typeof(int) || t == typeof(long) || t == typeof(float) || t == typeof(double) ||
               t == typeof(string) || t.IsEnum;
    }

    /// <summary>Valid kebab-case spellings of an enum's members.</summary>
    public static IReadOnlyList<string> EnumNames(Type enumType) => EnumSpelling.Names(enumType);

    internal static string Describe(Type type)
    {
        if (ListElementType(type) is { } element) return "list of " + Describe(element);
        if (IsRecord(type)) return "{" + string.Join(", ", For(type).Select(o => o.Name)) + "}";
        var underlying = Nullable.GetUnderlyingType(type);
        if (underlying is not null) return Describe(underlying) + " or null";
        if (type.IsEnum) return $"enum ({string.Join("|", EnumNames(type))})";
        return type == typeof(bool) ? "bool"
            : type == typeof(int) ? "int"
            : type == typeof(long) ? "int"
            : type == typeof(float) || type == typeof(double) ? "number"
            : "string";
    }

    internal static string Format(object? value) => value switch
    {
        null => "null",
        bool b => b ? "true" : "false",
        string s => s,
        Enum e => EnumSpelling.Of(e),
        float f => f.ToString("R", CultureInfo.InvariantCulture),
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        IEnumerable list => "[" + string.Join(", ", list.Cast<object?>().Select(Format)) + "]",
        _ => value.ToString() ?? "",
    };
}
