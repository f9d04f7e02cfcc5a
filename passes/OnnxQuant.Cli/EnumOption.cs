using System.CommandLine;
using OnnxQuant.Passes;

namespace OnnxQuant.Cli;

/// <summary>
/// A command-line option whose value is an enum, spelt as recipes spell it (<see cref="EnumSpelling"/>:
/// <c>min-max</c>, also <c>minmax</c>), with the spellings as its help name. System.CommandLine's own enum parsing
/// takes only member names (<c>MinMax</c>), so <c>--method min-max</c>, which <c>onnxquant passes</c> prints, failed.
/// </summary>
internal static class EnumOption
{
    public static Option<T?> Create<T>(string name, string description) where T : struct, Enum
    {
        var names = EnumSpelling.Names(typeof(T));
        return new Option<T?>(name)
        {
            Description = description,
            HelpName = string.Join("|", names),
            CustomParser = result =>
            {
                string text = result.Tokens.Count == 1 ? result.Tokens[0].Value : "";
                if (EnumSpelling.TryParse(typeof(T), text, out object? value)) return (T)value!;
                result.AddError($"{name} is one of {string.Join(", ", names)}; '{text}' is not");
                return null;
            },
        };
    }
}
