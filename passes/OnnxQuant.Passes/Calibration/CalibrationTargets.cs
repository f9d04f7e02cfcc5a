using OnnxQuant.Ir;
using OnnxQuant.Runtime.Calibration;
using OnnxQuant.Runtime.Calibration.Statistics;

namespace OnnxQuant.Passes.Calibration;

/// <summary>
/// Which activations a calibration run observes. It lives beside the passes, not in <see cref="CalibrationCollector"/>
/// (which only runs the model), because with <see cref="CalibrationScope.Quantizer"/> the answer comes from insert-qdq.
/// </summary>
public static class CalibrationTargets
{
    /// <summary>
    /// The activations of the main graph to calibrate, in graph order: with <see cref="CalibrationScope.All"/> the
    /// graph's inputs and every node output whose type is floating-point or not recorded (checked when it is
    /// observed); with <see cref="CalibrationScope.Quantizer"/> those of them whose ranges insert-qdq reads when it quantizes
    /// <paramref name="quantizedOpTypes"/> (default: the compute ops).
    /// </summary>
    public static List<KeyValuePair<string, ObserverSpec>> ActivationTargets(Model model, ObserverSpec spec, CalibrationScope scope = CalibrationScope.All,
        IEnumerable<string>? quantizedOpTypes = null)
    {
        var list = new List<KeyValuePair<string, ObserverSpec>>();
        if (scope == CalibrationScope.Quantizer)
        {
            var byName = CalibrationCollector.MainGraphValues(model);
            foreach (string name in Quantization.InsertQdqPass.CalibrationTargets(model, quantizedOpTypes))
                if (byName[name].ElementType is not { } t || TensorStatistics.CanObserve(t))
                    list.Add(new(name, spec));
            return list;
        }
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var v in model.Graph.Inputs)
            if (!v.IsConstant && v.ElementType is { } t && TensorStatistics.CanObserve(t) && seen.Add(v.Name!))
                list.Add(new(v.Name!, spec));
        foreach (var node in model.Graph.Nodes)
            foreach (var v in node.Outputs)
                if (v is { Name: { } name } && (v.ElementType is null || TensorStatistics.CanObserve(v.ElementType.Value)) && seen.Add(name))
                    list.Add(new(name, spec));
        return list;
    }
}
