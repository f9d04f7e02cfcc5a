// com.onnxquant HadamardTransform (version 1): the online rotation of QuaRot-style models (ALGORITHMS.md §3),
// Y[row] = s · (H_K ⊗ H_{2^m}) · X[row] over the last axis, D = K·2^m, in O(D·(log₂D + K)) instead of a dense
// D×D MatMul. Inputs: X float [..., D]; H_K int8 [K, K] of ±1 (optional: K = 1, a plain fast Walsh–Hadamard
// transform). Attribute normalized (default 1): s = 1/√D, else 1. Pass H_Kᵀ for the transposed transform.
// Same order of operations as OnnxQuant.Passes.Numerics.HadamardTransform (butterflies on each of the K segments,
// then signed sums of whole segments in row order of H_K, then the scale), so the two agree bit for bit.
#include "hadamard_transform.h"

#include "hadamard_rows.h"
#include "kernel_guard.h"

#include <string>

namespace onnxquant {
namespace {

struct Job {
  const float* x;
  float* y;
  int64_t d, k;
  const int8_t* base;
  bool normalized;
};

void TransformRow(const Job& job, int64_t r) {
  HadamardTransformRow(job.x + r * job.d, job.y + r * job.d, job.d, job.k, job.base, job.normalized);
}

}  // namespace

OrtStatusPtr HadamardTransformKernel::ComputeV2(OrtKernelContext* context) {
  return GuardedCompute(node_, [&] {
    Ort::KernelContext ctx(context);
    Ort::ConstValue input = ctx.GetInput(0);
    std::vector<int64_t> shape = input.GetTensorTypeAndShapeInfo().GetShape();
    if (shape.empty()) throw std::runtime_error("X must have at least one axis");
    int64_t d = shape.back();
    if (!IsHadamardOrder(d, k_))
      throw std::runtime_error("the last axis (" + std::to_string(d) + ") must be K·2^m with K = " + std::to_string(k_));
    int64_t rows = 1;
    for (size_t i = 0; i + 1 < shape.size(); i++) rows *= shape[i];
    Ort::UnownedValue output = ctx.GetOutput(0, shape);
    Job job{input.GetTensorData<float>(), output.GetTensorMutableData<float>(), d, k_, base_.data(), normalized_};
    if (rows > 0)
      ctx.ParallelFor([](void* data, size_t r) { TransformRow(*static_cast<Job*>(data), static_cast<int64_t>(r)); },
                      static_cast<size_t>(rows), 0, &job);
  });
}

OrtStatusPtr HadamardTransformOp::CreateKernelV2(const OrtApi& api, const OrtKernelInfo* info, void** kernel) const {
  try {
    Ort::ConstKernelInfo ki(info);
    std::string node = "HadamardTransform node '" + ki.GetNodeName() + "'";
    int64_t normalized = 1;
    if (OrtStatus* status = api.KernelInfoGetAttribute_int64(info, "normalized", &normalized)) {
      api.ReleaseStatus(status);
      normalized = 1;
    }
    std::vector<int8_t> base;
    int64_t k = 1;
    if (ki.GetInputCount() > 1) {
      int is_constant = 0;
      Ort::ConstValue h = ki.GetTensorConstantInput(1, &is_constant);
      if (static_cast<const OrtValue*>(h) != nullptr) {
        auto hs = h.GetTensorTypeAndShapeInfo().GetShape();
        if (hs.size() != 2 || hs[0] != hs[1]) throw std::runtime_error(node + ": H_K must be a square int8 matrix");
        k = hs[0];
        const int8_t* hp = h.GetTensorData<int8_t>();
        base.assign(hp, hp + k * k);
        for (int8_t v : base)
          if (v != 1 && v != -1) throw std::runtime_error(node + ": H_K must hold only +1 and -1");
      } else if (!ki.GetInputName(1).empty()) {
        throw std::runtime_error(node + ": H_K must be a constant initializer");
      }
    }
    *kernel = new HadamardTransformKernel(std::move(base), k, normalized != 0, node);
    return nullptr;
  } catch (const std::exception& e) {
    return api.CreateStatus(ORT_INVALID_ARGUMENT, e.what());
  }
}

}  // namespace onnxquant
