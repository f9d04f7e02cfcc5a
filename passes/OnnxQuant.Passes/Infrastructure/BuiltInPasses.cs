using OnnxQuant.Passes.Canonicalization;
using OnnxQuant.Passes.Equivalence;
using OnnxQuant.Passes.Fusion;
using OnnxQuant.Passes.Quantization;

namespace OnnxQuant.Passes;

/// <summary>
/// The one list of passes that ship with OnnxQuant, in the order <c>onnxquant passes</c> shows them. To add a pass,
/// add one line: <c>registry.Register&lt;MyPass&gt;();</c> (the pass needs a parameterless constructor).
/// </summary>
internal static class BuiltInPasses
{
    public static void RegisterAll(PassRegistry registry)
    {
        // Canonicalization (issue 3) and quantization passes register here, one line each.
        registry.Register<UpgradeOpsetPass>();
        registry.Register<ConstantsToValuesPass>();
        registry.Register<FoldConstantsPass>();
        registry.Register<NoOpEliminationPass>();
        registry.Register<DeadCodeEliminationPass>();
        registry.Register<InferShapesPass>();
        registry.Register<FoldBatchNormPass>();
        registry.Register<FuseLayerNormPass>();
        registry.Register<FuseRmsNormPass>();
        registry.Register<FuseGeluPass>();
        registry.Register<FuseHardSwishPass>();
        registry.Register<FuseMatMulAddPass>();
        registry.Register<Equivalence.SmoothQuantPass>();
        registry.Register<Quantization.Repq.RepqVitPass>();
        registry.Register<Equivalence.EqualizePass>();
        registry.Register<Equivalence.Awq.AwqPass>();
        registry.Register<Quantization.BiasCorrection.BiasCorrectionPass>();
        registry.Register<Equivalence.RotatePass>();
        registry.Register<Calibration.CalibratePass>();
        registry.Register<InsertQdqPass>();
        registry.Register<Quantization.AutoPrecision.AutoPrecisionPass>();
        registry.Register<Quantization.WeightOnly.QuantizeWeightsPass>();
        registry.Register<InsertDynamicQdqPass>();
        registry.Register<CustomOps.FuseCustomOpsPass>();
        registry.Register<Quantization.Diffusion.InsertTimestepQdqPass>();
        registry.Register<Quantization.Diffusion.DiffusionAutoPrecisionPass>();
    }
}
