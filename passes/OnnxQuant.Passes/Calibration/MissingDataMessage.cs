using OnnxQuant.Ir;

namespace OnnxQuant.Passes.Calibration;

/// <summary>
/// What a static recipe run without calibration data is told: which inputs the data must feed (names, element types,
/// shapes), the forms <c>--data</c> takes, an example command, and the preset that needs no data.
/// </summary>
public static class MissingDataMessage
{
    /// <summary>The message for <paramref name="model"/> (null: the inputs are not known yet) and the recipe named <paramref name="recipe"/>.</summary>
    public static string For(Model? model, string? recipe = null)
    {
        var lines = new List<string>
        {
            $"The recipe{(recipe is null ? "" : $" '{recipe}'")} calibrates activation ranges (static quantization), so it needs calibration data: " +
            "give --data PATH, or 'data:' in the recipe's calibration section.",
        };
        var inputs = model?.Graph.Inputs.Where(v => !v.IsConstant).ToList() ?? [];
        if (inputs.Count > 0)
        {
            lines.Add($"The data must feed the model's {(inputs.Count == 1 ? "input" : $"{inputs.Count} inputs")}:");
            foreach (var v in inputs)
                lines.Add($"  {v.Name}: {v.ElementType?.OnnxName() ?? "unknown type"} {v.Shape?.ToString() ?? "[unknown shape]"}");
        }
        string first = inputs.FirstOrDefault()?.Name ?? "INPUT";
        lines.Add(inputs.Count > 1
            ? $"PATH is a folder holding one NAME.npy per input ({string.Join(", ", inputs.Select(v => v.Name + ".npy"))}) with the samples " +
              "along axis 0, or a .npz with those names; 'random' feeds random values (smoke tests only: ranges will be wrong)."
            : $"PATH is a .npy with the samples along axis 0 (e.g. [N, ...] for '{first}'), a .npz, a folder of NAME.npy files, " +
              "a folder of images (for an image input), or 'random' (smoke tests only: ranges will be wrong).");
        lines.Add($"Example: onnxquant model.onnx model.int8.onnx --recipe {recipe ?? "w8a8"} --data calib.npy --count 128");
        lines.Add("Without data, use the 'w8a8-dynamic' preset: activation ranges are measured at run time.");
        return string.Join(Environment.NewLine, lines);
    }
}
