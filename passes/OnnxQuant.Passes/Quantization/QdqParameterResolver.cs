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
    public readonly record struct ActivationChoice(DataType Type, bool Symmetric, CalibrationMethod? Method, double? Percentile);

    private readonly record struct Entry(QdqOverride Override, Regex Pattern);

    private readonly InsertQdqOptions _options;
    private readonly IActivationRanges _ranges;
    private readonly CalibrationResult? _calibration;
    private readonly long _opset;
    private readonly string _pass;
    private readonly List<Entry> _entries;

    /// <summary>The first opset with int16/uint16 QuantizeLinear/DequantizeLinear.</summary>
    public const long RequiredOpsetInt16 = 21;

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
        if (IsSixteenBit(Map(options.ActivationType))) CheckOpset("activation-type " + KebabCase.From(options.ActivationType.ToString()));
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
        bool symmetric = _options.SymmetricActivations;
        CalibrationMethod? method = null;
        double? percentile = null;
        foreach (var (o, pattern) in _entries)
        {
            if (!Matches(o, pattern, tensor, null)) continue;
            if (o.ActivationType is { } t) type = t;
            if (o.SymmetricActivations is { } s) symmetric = s;
            if (o.Method is { } m) method = m;
            if (o.Percentile is { } p) (method, percentile) = (CalibrationMethod.Percentile, p);
        }
        var dataType = Map(type);
        if (IsSixteenBit(dataType)) CheckOpset($"{tensor}: activation-type {KebabCase.From(type.ToString())}");
        return new ActivationChoice(dataType, symmetric, method, percentile);
    }

    /// <summary>The calibrated range of <paramref name="tensor"/>, recomputed when <paramref name="choice"/> names another method.</summary>
    public bool TryGetRange(Value tensor, ActivationChoice choice, out float min, out float max)
    {
        (min, max) = (0, 0);
        if (choice.Method is null && choice.Percentile is null) return _ranges.TryGetRange(tensor, out min, out max);
        if (_calibration is null || !_calibration.TryGetStatistics(tensor, out var statistics)) return false;
        var options = _calibration.Options with
        {
            Method = choice.Method ?? _calibration.Options.Method,
            Percentile = choice.Percentile ?? _calibration.Options.Percentile,
        };
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

    private void CheckOpset(string what)
    {
        if (_opset < RequiredOpsetInt16)
            throw new OnnxQuantException(
                $"{_pass}: {what} needs opset >= {RequiredOpsetInt16} (16-bit QuantizeLinear/DequantizeLinear); the model has {_opset}. " +
                $"Run 'upgrade-opset' (target-opset: {RequiredOpsetInt16}) before '{_pass}'.");
    }

    private static bool IsSixteenBit(DataType type) => type is DataType.Int16 or DataType.UInt16;

    public static DataType Map(QdqActivationType type) => type switch
    {
        QdqActivationType.Int8 => DataType.Int8,
        QdqActivationType.Int16 => DataType.Int16,
        QdqActivationType.UInt16 => DataType.UInt16,
        _ => DataType.UInt8,
    };

    internal static Regex Glob(string pattern) =>
        new("^" + Regex.Escape(pattern).Replace(@"\*", ".*").Replace(@"\?", ".") + "$", RegexOptions.CultureInvariant);
}
