using System.Text.RegularExpressions;
using OnnxQuant.Ir;
using OnnxQuant.Passes.Calibration;
using OnnxQuant.Passes.Calibration.Ranges;

namespace OnnxQuant.Passes.Quantization;

/// <summary>
/// The settings <see cref="QdqInserter"/> uses for each tensor and node: the pass's options with the matching
/// <see cref="QdqOverride"/> entries applied in order (a later entry wins). A node entry applies to the node's inputs,
/// weight and outputs; a tensor entry to the tensors its glob matches. Ranges come from the calibration analysis, or
/// are recomputed from its statistics with another method when an entry asks for one.
/// </summary>
internal sealed class QdqParameterResolver
{
    /// <summary>How one activation tensor is quantized.</summary>
    public readonly record struct ActivationChoice(DataType Type, bool Symmetric, CalibrationMethod? Method, double? Percentile, int? Bits = null)
    {
        /// <summary>The quantized type with its code range (emulated bits when fewer than the type holds).</summary>
        public QuantTarget Target => new(Type, Symmetric, emulatedBits: Bits);

        public bool IsFloat8 => Type is DataType.Float8E4M3FN or DataType.Float8E5M2;
    }

    private readonly record struct Entry(QdqOverride Override, Regex Pattern);

    private readonly InsertQdqOptions _options;
    private readonly IActivationRanges _ranges;
    private readonly CalibrationResult? _calibration;
    private readonly long _opset;
    private readonly string _pass;
    private readonly List<Entry> _entries;

    /// <summary>The first opset with int16/uint16 (and int4/uint4) QuantizeLinear/DequantizeLinear.</summary>
    public const long RequiredOpsetInt16 = 21;

    /// <summary>The first opset with float8 QuantizeLinear/DequantizeLinear.</summary>
    public const long RequiredOpsetFloat8 = 19;

    public QdqParameterResolver(InsertQdqOptions options, IActivationRanges ranges, CalibrationResult? calibration, long opset, string pass)
    {
        _options = options;
        _ranges = ranges;
        _calibration = calibration;
        _opset = opset;
        _pass = pass;
        _entries = [];
        foreach (var o in options.Overrides)
        {
            if (o.Problem() is { } problem) throw new OnnxQuantException($"{pass}: overrides: {problem}");
            _entries.Add(new Entry(o, NameGlob.Compile(o.Nodes ?? o.Tensors!)));
        }
        if (options.Overrides.Any(o => o.Method is not null) && calibration is null)
            throw new OnnxQuantException($"{pass}: an override sets 'method', which needs the statistics of the calibrate pass; run 'calibrate' before '{pass}'.");
        CheckOpset(Map(options.ActivationType), "activation-type " + KebabCase.From(options.ActivationType.ToString()));
        CheckBits(options.ActivationBits, Map(options.ActivationType), "activation-bits");
        CheckBits(options.ModelInputBits, Map(options.ActivationType), "model-input-bits");
        foreach (var o in options.Overrides) CheckBits(o.ActivationBits, Map(o.ActivationType ?? options.ActivationType), "overrides: activation-bits");
    }

    private void CheckBits(int? bits, DataType type, string what)
    {
        if (bits is not { } b) return;
        if (type is DataType.Float8E4M3FN or DataType.Float8E5M2)
            throw new OnnxQuantException($"{_pass}: {what} {b} does not apply to {type.OnnxName()} activations; remove it or use an integer activation-type.");
        if (b < 2 || b > 16)
            throw new OnnxQuantException($"{_pass}: {what} is {b}; emulated activation widths are 2..{type.BitWidth()} bits of activation-type {type.OnnxName()}.");
    }

    /// <summary>Why <paramref name="node"/> stays float by an exclude entry (itself, or a tensor it reads or writes), else null.</summary>
    public string? Exclusion(Node node)
    {
        foreach (var (o, pattern) in _entries)
        {
            if (!o.Exclude) continue;
            if (o.Nodes is not null && node.Name is { } n && pattern.IsMatch(n)) return $"excluded by the override nodes: \"{o.Nodes}\"";
            if (o.Tensors is not null &&
                node.Inputs.Concat(node.Outputs).FirstOrDefault(v => v?.Name is { } t && pattern.IsMatch(t)) is { } hit)
                return $"excluded by the override tensors: \"{o.Tensors}\" ({hit})";
        }
        return null;
    }

    /// <summary>Whether the weight <paramref name="weight"/> of <paramref name="node"/> gets one scale per channel.</summary>
    public bool PerChannel(Node node, Value weight)
    {
        var granularity = _options.WeightGranularity;
        foreach (var (o, pattern) in _entries)
            if (o.WeightGranularity is { } g && Matches(o, pattern, weight, node)) granularity = g;
        return granularity == QdqWeightGranularity.PerChannel;
    }

    /// <summary>The type, symmetry and range method of the activation <paramref name="tensor"/>.</summary>
    public ActivationChoice Activation(Value tensor)
    {
        var type = _options.ActivationType;
        int? bits = tensor.IsGraphInput && _options.ModelInputBits is { } inputBits ? inputBits : _options.ActivationBits;
        bool symmetric = _options.SymmetricActivations;
        CalibrationMethod? method = null;
        double? percentile = null;
        foreach (var (o, pattern) in _entries)
        {
            if (!Matches(o, pattern, tensor, null)) continue;
            if (o.ActivationType is { } t) type = t;
            if (o.ActivationBits is { } ob) bits = ob;
            if (o.SymmetricActivations is { } s) symmetric = s;
            if (o.Method is { } m) method = m;
            if (o.Percentile is { } p) (method, percentile) = (CalibrationMethod.Percentile, p);
        }
        var dataType = Map(type);
        CheckOpset(dataType, $"{tensor}: activation-type {KebabCase.From(type.ToString())}");
        bool isFloat8 = dataType is DataType.Float8E4M3FN or DataType.Float8E5M2;
        if (isFloat8) bits = null;
        else if (bits is { } b && b > dataType.BitWidth())
            throw new OnnxQuantException($"{_pass}: {tensor}: activation-bits {b} exceed activation-type {dataType.OnnxName()}; use a wider activation-type (e.g. uint8) or fewer bits.");
        else if (bits == dataType.BitWidth()) bits = null;
        return new ActivationChoice(dataType, symmetric, method, percentile, bits);
    }

    /// <summary>The calibrated range of <paramref name="tensor"/>, recomputed when <paramref name="choice"/> names another method.</summary>
    public bool TryGetRange(Value tensor, ActivationChoice choice, out float min, out float max)
    {
        (min, max) = (0, 0);
        // An MSE search minimizes the error of a target: the one this tensor gets (type, bits, symmetry), not the
        // calibrate step's default (int8 symmetric).
        bool retarget = (choice.Method ?? _calibration?.Options.Method) == CalibrationMethod.Mse;
        if (choice.Method is null && choice.Percentile is null && (!retarget || !_ranges.TryGetRange(tensor, out min, out max)))
            return _ranges.TryGetRange(tensor, out min, out max);
        if (_calibration is null || !_calibration.TryGetStatistics(tensor, out var statistics)) return false;
        // Observed for another reader only (bias-correction's channel means of a Reshape's output whose range is taken
        // from the chain's start): it has no calibrated range, with or without the override.
        if (!_calibration.TryGetRange(tensor, out _)) return false;
        // Observed without a histogram (e.g. min/max only): the calibrated range as it is.
        if (retarget && choice.Method is null && statistics.Histogram is null) return _ranges.TryGetRange(tensor, out min, out max);
        var options = _calibration.Options with
        {
            Method = choice.Method ?? _calibration.Options.Method,
            Percentile = choice.Percentile ?? _calibration.Options.Percentile,
        };
        // A histogram of |x| (calibrate's symmetric: true) can only give a symmetric range.
        if (retarget) options = options with { Target = choice.Target, Symmetric = choice.Symmetric || choice.IsFloat8 || statistics!.Histogram?.Absolute == true };
        try
        {
            var range = RangeCalculator.Compute(statistics!, options);
            (min, max) = ((float)range.Min, (float)range.Max);
            return true;
        }
        catch (OnnxQuantException e)
        {
            throw new OnnxQuantException($"{_pass}: the override for {tensor} sets method {KebabCase.From(options.Method.ToString())}: {e.Message} " +
                "Set 'method: percentile' (or entropy, mse) on the calibrate pass so that histograms are collected.", e);
        }
    }

    /// <summary>A node entry matches the tensors a node reads or writes; a tensor entry matches by the tensor's name.</summary>
    private static bool Matches(QdqOverride o, Regex pattern, Value tensor, Node? node)
    {
        if (o.Tensors is not null) return tensor.Name is { } t && pattern.IsMatch(t);
        if (node is not null) return node.Name is { } n && pattern.IsMatch(n);
        return (tensor.Producer?.Name is { } p && pattern.IsMatch(p)) || tensor.Uses.Any(u => u.Node.Name is { } r && pattern.IsMatch(r));
    }

    private void CheckOpset(DataType type, string what)
    {
        long required = type switch
        {
            DataType.Int16 or DataType.UInt16 or DataType.Int4 or DataType.UInt4 => RequiredOpsetInt16,
            DataType.Float8E4M3FN or DataType.Float8E5M2 => RequiredOpsetFloat8,
            _ => 0,
        };
        if (_opset < required)
            throw new OnnxQuantException(
                $"{_pass}: {what} needs opset >= {required} ({type.OnnxName()} QuantizeLinear/DequantizeLinear); the model has {_opset}. " +
                $"Run 'upgrade-opset' (target-opset: {RequiredOpsetInt16}) before '{_pass}'.");
    }

    /// <summary>The standard deviation of the values in <paramref name="tensor"/>'s calibrated histogram (bin centres), or null without one.</summary>
    public double? HistogramStd(Value tensor)
    {
        if (_calibration is null || !_calibration.TryGetStatistics(tensor, out var statistics) || statistics.Histogram is not { IsEmpty: false } h) return null;
        double n = 0, sum = 0, squares = 0, width = h.Width;
        var counts = h.Counts;
        for (int j = 0; j < counts.Length; j++)
        {
            if (counts[j] == 0) continue;
            double c = h.LowerEdge(j) + width / 2;
            n += counts[j];
            sum += counts[j] * c;
            squares += counts[j] * c * c;
        }
        // A histogram of |x| is that of a distribution symmetric about 0: its mean is 0.
        double mean = h.Absolute ? 0 : sum / n;
        return Math.Sqrt(Math.Max(squares / n - mean * mean, 0));
    }

    private DataType Map(QdqActivationType type) => Map(type, _options.Float8Format);

    public static DataType Map(QdqActivationType type, Float8Format float8Format) => type switch
    {
        QdqActivationType.Int8 => DataType.Int8,
        QdqActivationType.Int16 => DataType.Int16,
        QdqActivationType.UInt16 => DataType.UInt16,
        QdqActivationType.Int4 => DataType.Int4,
        QdqActivationType.UInt4 => DataType.UInt4,
        QdqActivationType.Float8 => float8Format == Float8Format.E5m2 ? DataType.Float8E5M2 : DataType.Float8E4M3FN,
        _ => DataType.UInt8,
    };

    internal static Regex Glob(string pattern) =>
        new("^" + Regex.Escape(pattern).Replace(@"\*", ".*").Replace(@"\?", ".") + "$", RegexOptions.CultureInvariant);
}
