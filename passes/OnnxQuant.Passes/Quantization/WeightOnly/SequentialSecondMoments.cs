using OnnxQuant.Ir;
using OnnxQuant.Passes.Calibration;
using OnnxQuant.Passes.Calibration.Ranges;
using OnnxQuant.Passes.LinearLayers;

namespace OnnxQuant.Passes.Quantization.WeightOnly;

/// <summary>
/// Layer-by-layer calibration for GPTQ (<c>gptq-sequential: true</c>; the GPTQ paper's sequential mode): the XᵀX of a
/// layer's input is collected, when the rounder first asks for it, on the model as it is then — the layers before it
/// already replaced by their quantized form (MatMulNBits, DequantizeLinear or the binary decomposition; ONNX Runtime runs
/// them), so each layer's rounding sees, and compensates for, the error of the layers before it. Valid because
/// <see cref="QuantizeWeightsPass"/> rounds in graph (topological) order: every layer upstream of an input is rounded
/// before the first reader of that input asks. One calibration run per distinct layer input (q, k and v share one);
/// only the latest input's XᵀX is held, so one Hessian is in memory at a time. Each run executes the whole model over
/// the calibration data (<see cref="CalibratePass.Collect"/>).
/// </summary>
internal sealed class SequentialSecondMoments(Model model, PassContext context)
{
    private Value? _input;
    private (double[] Matrix, long Rows) _latest;

    public int Runs { get; private set; }

    public (double[] SecondMoment, long Rows) Of(LinearLayer layer)
    {
        var x = layer.Node.Inputs[0]!;
        if (x == _input) return _latest;
        _latest = default;
        _input = null;
        // ONNX Runtime needs the com.microsoft import to run the MatMulNBits of the layers already quantized.
        if (model.GetOpset(WeightOnlyRewriter.MsDomain) is null && model.Graph.Nodes.Any(n => n.Domain == WeightOnlyRewriter.MsDomain))
            model.SetOpset(WeightOnlyRewriter.MsDomain, 1);
        var requests = new StatisticsRequests();
        requests.SecondMoment(x);
        var statistics = CalibratePass.Collect(model, requests, new RangeOptions(), context);
        Runs++;
        context.Count("sequential-calibrations");
        var (matrix, _, rows) = statistics.SecondMoment(x);
        _input = x;
        _latest = (matrix, rows);
        return _latest;
    }
}
