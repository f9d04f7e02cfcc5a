using OnnxQuant.Ir.Serialization;
using OnnxQuant.Passes;
using OnnxQuant.Passes.Calibration;
using OnnxQuant.Runtime.DataSources;
using OnnxQuant.Passes.Calibration.Ranges;
using OnnxQuant.Passes.Quantization;

namespace OnnxQuant.Tests.Calibration;

public class CalibrationScopeTests
{
    private static readonly string Calib256 = Path.Combine(SharedPaths.Data, "mnist", "calib_256.npy");

    private static (byte[] Model, int Observed) CalibrateAndQuantize(CalibrationScope scope)
    {
        using var model = OnnxReader.Read(SharedPaths.Model("vit_mnist.onnx"));
        var context = new PassContext();
        context.SetAnalysis(new CalibrationSettings { Data = Calib256, Source = new DataSourceOptions { Count = 4, BatchSize = 2 } });
        new CalibratePass().Run(model, new CalibrateOptions { Method = CalibrationMethod.Percentile, Tensors = scope }, context);
        int observed = context.GetAnalysis<CalibrationResult>()!.Statistics.Count;
        new InsertQdqPass().Run(model, new InsertQdqOptions(), context);
        return (OnnxWriter.ToBytes(model), observed);
    }

    [Fact]
    public void InsertQdqGivesTheSameModel_WhetherCalibrationObservedItsTensorsOrAll()
    {
        var (all, observedAll) = CalibrateAndQuantize(CalibrationScope.All);
        var (quantizer, observedQuantizer) = CalibrateAndQuantize(CalibrationScope.Quantizer);
        Assert.True(observedQuantizer < observedAll / 2, $"the quantizer's tensors ({observedQuantizer}) should be a fraction of all ({observedAll})");
        Assert.Equal(all, quantizer);
    }

    [Fact]
    public void QuantizerTargetsAreTheStartsOfPassThroughChains_NotTheLinks()
    {
        using var model = OnnxReader.Read(SharedPaths.Model("vit_mnist.onnx"));
        var targets = InsertQdqPass.CalibrationTargets(model);
        const string Layer = "/transformer/layers.0.0/fn/";
        // q reaches its MatMul as Slice -> Reshape -> Transpose: only the chain's start is calibrated.
        Assert.Contains(Layer + "Slice_output_0", targets);
        Assert.DoesNotContain(Layer + "Reshape_output_0", targets);
        Assert.DoesNotContain(Layer + "Transpose_output_0", targets);
        Assert.Equal(targets.Count, targets.Distinct().Count());
    }
}
