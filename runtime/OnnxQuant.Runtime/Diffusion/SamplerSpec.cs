using OnnxQuant.Ir;
using System.Globalization;
using System.Text.Json;

namespace OnnxQuant.Runtime.Diffusion;

/// <summary>
/// A declarative description of a diffusion sampling loop (a JSON file): the noise schedule, the timesteps visited,
/// DDIM's eta, classifier-free guidance, which denoiser inputs carry the sample x, the timestep t and the class
/// condition, and which output is the predicted noise ε. The shared <c>dit_mnist_sampler.json</c> is read as it is.
/// </summary>
/// <remarks>
/// <para>Keys (snake_case, as diffusers writes its scheduler configs): <c>type</c> (<c>DDIM</c>, the only one),
/// <c>num_train_timesteps</c>; the schedule as <c>alphas_cumprod</c> (ᾱ, one per training timestep) or
/// <c>beta_schedule</c> (<c>linear</c>, <c>scaled_linear</c>) with <c>beta_start</c>/<c>beta_end</c>;
/// <c>timesteps</c> (descending) or <c>num_inference_steps</c> (evenly spaced, diffusers' "leading" spacing:
/// t = k·T/steps for k = steps−1 … 0); <c>eta</c> (0 = deterministic DDIM); <c>guidance_scale</c> and
/// <c>null_class</c> (classifier-free guidance: one model call per step on [conditional; unconditional]);
/// <c>clip_x0</c>; <c>num_classes</c> (default <c>null_class</c>); <c>x_input</c>, <c>t_input</c>,
/// <c>condition_input</c> (default <c>x</c>, <c>t</c>, <c>y</c>) and <c>eps_output</c> (default: the model's first; the shared file's <c>output</c> is a description);
/// <c>calibration_every</c> (calibration observes every k-th step; default 1).</para>
/// <para>Other keys (descriptions such as <c>update</c>, <c>seed_convention</c>, <c>classifier</c>) are ignored. The
/// previous timestep of each step is the next one in the list (ᾱ_prev = 1 after the last), which for evenly spaced
/// timesteps is t − T/steps, the shared file's rule.</para>
/// </remarks>
public sealed record SamplerSpec
{
    public required string Source { get; init; }
    public required double[] AlphasCumprod { get; init; }

    /// <summary>Timesteps visited, in order (descending).</summary>
    public required int[] Timesteps { get; init; }

    public double Eta { get; init; }
    public double GuidanceScale { get; init; } = 1;

    /// <summary>The condition value that means "no class" (classifier-free guidance's null batch); null without guidance.</summary>
    public long? NullClass { get; init; }

    /// <summary>Classes 0 … NumClasses−1; sample i of n gets class ⌊i·NumClasses/n⌋ (blocks of n/NumClasses).</summary>
    public int NumClasses { get; init; }

    public bool ClipX0 { get; init; }
    public string XInput { get; init; } = "x";
    public string TInput { get; init; } = "t";
    public string? ConditionInput { get; init; } = "y";
    public string? Output { get; init; }

    /// <summary>Calibration (<c>--data sampler:FILE</c>) observes every k-th step's feeds (1: every step).</summary>
    public int CalibrationEvery { get; init; } = 1;

    /// <summary>Whether each step runs the conditional and unconditional batches together and mixes them.</summary>
    public bool UsesGuidance => ConditionInput is not null && NullClass is not null && GuidanceScale != 1;

    /// <summary>The class of sample <paramref name="index"/> of <paramref name="count"/>.</summary>
    public long ClassOf(int index, int count) => NumClasses <= 0 ? 0 : (long)index * NumClasses / count;

    public static SamplerSpec Load(string path)
    {
        if (!File.Exists(path)) throw new OnnxQuantException($"Sampler file {path} does not exist; give a JSON sampling-loop description (see passes/OnnxQuant.Cli/docs/diffusion.md).");
        JsonDocument doc;
        try { doc = JsonDocument.Parse(File.ReadAllText(path)); }
        catch (JsonException e) { throw new OnnxQuantException($"Sampler file {path} is not valid JSON (line {e.LineNumber + 1}): {e.Message}"); }
        using (doc) return Parse(doc.RootElement, path);
    }

    public static SamplerSpec Parse(JsonElement root, string source)
    {
        if (root.ValueKind != JsonValueKind.Object) throw Bad(source, "the top level must be a JSON object");
        string type = String(root, "type", source) ?? "DDIM";
        if (!type.Equals("DDIM", StringComparison.OrdinalIgnoreCase))
            throw Bad(source, $"'type' is '{type}'; only DDIM is implemented (eta 0 gives deterministic DDIM, eta 1 DDPM-like sampling)");
        int trainSteps = Int(root, "num_train_timesteps", source) ?? 1000;
        if (trainSteps < 2) throw Bad(source, $"'num_train_timesteps' must be at least 2 (got {trainSteps})");

        double[] alphas = DoubleArray(root, "alphas_cumprod", source) ?? FromBetas(root, trainSteps, source);
        if (alphas.Length != trainSteps)
            throw Bad(source, $"'alphas_cumprod' has {alphas.Length} values but 'num_train_timesteps' is {trainSteps}");
        for (int i = 0; i < alphas.Length; i++)
            if (!(alphas[i] > 0 && alphas[i] <= 1)) throw Bad(source, $"alphas_cumprod[{i}] = {alphas[i].ToString(CultureInfo.InvariantCulture)} is not in (0, 1]");

        int[] timesteps;
        if (root.TryGetProperty("timesteps", out var ts))
        {
            if (ts.ValueKind != JsonValueKind.Array || ts.GetArrayLength() == 0) throw Bad(source, "'timesteps' must be a non-empty array of integers");
            timesteps = ts.EnumerateArray().Select((e, i) => e.TryGetInt32(out int v) ? v : throw Bad(source, $"timesteps[{i}] is not an integer")).ToArray();
            if (Int(root, "num_inference_steps", source) is int n && n != timesteps.Length)
                throw Bad(source, $"'num_inference_steps' is {n} but 'timesteps' lists {timesteps.Length}");
        }
        else
        {
            int steps = Int(root, "num_inference_steps", source) ?? throw Bad(source, "give 'timesteps' or 'num_inference_steps'");
            if (steps < 1 || steps > trainSteps) throw Bad(source, $"'num_inference_steps' must be 1 … {trainSteps} (got {steps})");
            int stride = trainSteps / steps;
            timesteps = Enumerable.Range(0, steps).Select(k => (steps - 1 - k) * stride).ToArray();
        }
        for (int i = 0; i < timesteps.Length; i++)
        {
            if (timesteps[i] < 0 || timesteps[i] >= trainSteps) throw Bad(source, $"timesteps[{i}] = {timesteps[i]} is outside 0 … {trainSteps - 1}");
            if (i > 0 && timesteps[i] >= timesteps[i - 1]) throw Bad(source, $"timesteps must decrease (timesteps[{i}] = {timesteps[i]} follows {timesteps[i - 1]})");
        }

        double eta = Double(root, "eta", source) ?? 0;
        if (eta < 0) throw Bad(source, $"'eta' must be 0 or more (got {eta.ToString(CultureInfo.InvariantCulture)})");
        double guidance = Double(root, "guidance_scale", source) ?? 1;
        long? nullClass = Int(root, "null_class", source);
        string? condition = root.TryGetProperty("condition_input", out var c) && c.ValueKind == JsonValueKind.Null ? null : String(root, "condition_input", source) ?? "y";
        if (guidance != 1 && nullClass is null && condition is not null)
            throw Bad(source, "'guidance_scale' is not 1 but 'null_class' is missing; give the condition value that means unconditional");
        int classes = Int(root, "num_classes", source) ?? (int)(nullClass ?? 0);
        if (classes < 0) throw Bad(source, $"'num_classes' must be 0 or more (got {classes})");
        return new SamplerSpec
        {
            Source = source,
            AlphasCumprod = alphas,
            Timesteps = timesteps,
            Eta = eta,
            GuidanceScale = guidance,
            NullClass = nullClass,
            NumClasses = classes,
            ClipX0 = Bool(root, "clip_x0", source) ?? false,
            XInput = String(root, "x_input", source) ?? "x",
            TInput = String(root, "t_input", source) ?? "t",
            ConditionInput = condition,
            Output = String(root, "eps_output", source),
            CalibrationEvery = Int(root, "calibration_every", source) is int every
                ? every >= 1 ? every : throw Bad(source, $"'calibration_every' must be at least 1 (got {every})")
                : 1,
        };
    }

    /// <summary>ᾱ_t = ∏_{s≤t}(1 − β_s) from a linear or scaled-linear (linear in √β) β schedule.</summary>
    private static double[] FromBetas(JsonElement root, int trainSteps, string source)
    {
        string schedule = String(root, "beta_schedule", source) ?? throw Bad(source, "give 'alphas_cumprod' or 'beta_schedule' with 'beta_start' and 'beta_end'");
        double start = Double(root, "beta_start", source) ?? throw Bad(source, "'beta_schedule' needs 'beta_start'");
        double end = Double(root, "beta_end", source) ?? throw Bad(source, "'beta_schedule' needs 'beta_end'");
        var alphas = new double[trainSteps];
        double product = 1;
        for (int i = 0; i < trainSteps; i++)
        {
            double f = (double)i / (trainSteps - 1);
            double beta = schedule switch
            {
                "linear" => start + f * (end - start),
                "scaled_linear" => Math.Pow(Math.Sqrt(start) + f * (Math.Sqrt(end) - Math.Sqrt(start)), 2),
                _ => throw Bad(source, $"'beta_schedule' is '{schedule}'; use linear or scaled_linear, or give 'alphas_cumprod'"),
            };
            product *= 1 - beta;
            alphas[i] = product;
        }
        return alphas;
    }

    private static OnnxQuantException Bad(string source, string what) => new($"Sampler {source}: {what}.");

    private static string? String(JsonElement root, string key, string source) =>
        !root.TryGetProperty(key, out var v) ? null
        : v.ValueKind == JsonValueKind.String ? v.GetString() : throw Bad(source, $"'{key}' must be a string");

    private static int? Int(JsonElement root, string key, string source) =>
        !root.TryGetProperty(key, out var v) ? null
        : v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int i) ? i : throw Bad(source, $"'{key}' must be an integer");

    private static double? Double(JsonElement root, string key, string source) =>
        !root.TryGetProperty(key, out var v) ? null
        : v.ValueKind == JsonValueKind.Number ? v.GetDouble() : throw Bad(source, $"'{key}' must be a number");

    private static bool? Bool(JsonElement root, string key, string source) =>
        !root.TryGetProperty(key, out var v) ? null
        : v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean() : throw Bad(source, $"'{key}' must be true or false");

    private static double[]? DoubleArray(JsonElement root, string key, string source)
    {
        if (!root.TryGetProperty(key, out var v)) return null;
        if (v.ValueKind != JsonValueKind.Array) throw Bad(source, $"'{key}' must be an array of numbers");
        return v.EnumerateArray().Select((e, i) => e.ValueKind == JsonValueKind.Number ? e.GetDouble() : throw Bad(source, $"{key}[{i}] is not a number")).ToArray();
    }
}
