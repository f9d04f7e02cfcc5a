// com.onnxquant Log2AttnMatMul (version 1): RepQ-ViT's attention-times-V with log√2-quantized probabilities
// (ALGORITHMS.md §1.4), Y = Â·V̂ with Â = s·2^(−q/2) (0 for q = 2^b) and V̂ = s_V·(V − z_V).
//   Inputs: A float [..., M, T] (the Softmax output, not yet quantized); thresholds float [2^b] (constant: the
//   code of a is q = #{k : a ≤ thresholds[k]}, exactly as the standard-ONNX export counts it); V uint8|int8
//   [..., T, N] (the QuantizeLinear codes of V; leading axes equal to A's); v_scale float scalar (constant);
//   v_zero_point scalar of V's type (constant, optional, default 0). Attributes: a_scale (s), isa (optional).
// No multiplication by Â: each row of V − z_V is added into the int32 accumulator of its code (codes 2^b, the
// zero value, are skipped), then per output row the 2^b accumulators are combined by shifts,
//   E = Σ_{q even} acc_q·2^(S − q/2),  O = Σ_{q odd} acc_q·2^(S − (q+1)/2),  S = 2^(b−1)   (exact int64),
// and Y = fl32( fl64(s·s_V·2^−S) · (fl64(E) + √2·fl64(O)) ). b ≤ 6 keeps E and O exact in int64; for b = 7, 8
// they are double sums of exact terms acc_q·2^k in code order. The per-path part (codes, accumulation) is exact
// integer work and the combination is shared code, so all paths agree bit for bit.
#include "log2_attn_matmul.h"

#include "kernel_guard.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "quantized_matmul_kernel.h"

namespace onnxquant {
namespace {

constexpr int64_t kRowBlock = 32;  // rows of A per task: a task converts its head's V once

struct Task {
  Log2AttnProblem problem;
  int64_t row_blocks;
};

}  // namespace

void Log2AttnMatMulKernel::Compute(Ort::KernelContext& context) {
  Ort::ConstValue av = context.GetInput(0), vv = context.GetInput(2);
  auto as = av.GetTensorTypeAndShapeInfo().GetShape();
  auto vs = vv.GetTensorTypeAndShapeInfo().GetShape();
  auto vtype = vv.GetTensorTypeAndShapeInfo().GetElementType();
  if (vtype != ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8 && vtype != ONNX_TENSOR_ELEMENT_DATA_TYPE_INT8)
    throw std::runtime_error("V must be uint8 or int8");
  if (as.size() < 2 || vs.size() != as.size())
    throw std::runtime_error("A [..., M, T] and V [..., T, N] must have the same rank (at least 2)");
  int64_t batch = 1;
  for (size_t i = 0; i + 2 < as.size(); i++) {
    if (as[i] != vs[i]) throw std::runtime_error("A and V must have equal leading axes (no broadcasting); axis " + std::to_string(i) +
                                                 " is " + std::to_string(as[i]) + " and " + std::to_string(vs[i]));
    batch *= as[i];
  }
  const int64_t m = as[as.size() - 2], t = as.back(), n = vs.back();
  if (vs[vs.size() - 2] != t)
    throw std::runtime_error("A's last axis (" + std::to_string(t) + ") must equal V's second-to-last (" + std::to_string(vs[vs.size() - 2]) + ")");
  const int shift = Log2AttnShift(static_cast<int>(thresholds_.size()));
  // |V − z| ≤ 255, so |acc| ≤ 255·T (int32) and |E|, |O| ≤ 255·T·2^(S+1) (int64).
  if (t > (int64_t{1} << 23) || (shift <= kLog2ExactShift && t > (int64_t{1} << (54 - shift))))
    throw std::runtime_error("T = " + std::to_string(t) + " keys exceed what the exact integer sums hold for " +
                             std::to_string(thresholds_.size()) + " codes");
  std::vector<int64_t> ys(as.begin(), as.end());
  ys.back() = n;
  Ort::UnownedValue yv = context.GetOutput(0, ys);
  if (batch == 0 || m == 0 || n == 0) return;
  Task task{{av.GetTensorData<float>(), vv.GetTensorRawData(), vtype == ONNX_TENSOR_ELEMENT_DATA_TYPE_INT8,
              yv.GetTensorMutableData<float>(), m, t, n, thresholds_.data(), static_cast<int>(thresholds_.size()),
              v_zero_, Log2AttnFactor(a_scale_, v_scale_, shift), isa_},
             (m + kRowBlock - 1) / kRowBlock};
  context.ParallelFor(
      [](void* data, size_t i) {
        const Task& task = *static_cast<Task*>(data);
        int64_t head = static_cast<int64_t>(i) / task.row_blocks, first = (static_cast<int64_t>(i) % task.row_blocks) * kRowBlock;
        Log2AttnRows(task.problem, head, first, std::min(task.problem.m, first + kRowBlock));
      },
      static_cast<size_t>(batch * task.row_blocks), 0, &task);
}

OrtStatusPtr Log2AttnMatMulKernel::ComputeV2(OrtKernelContext* context) {
  return GuardedCompute(node_, [&] {
    Ort::KernelContext ctx(context);
    Compute(ctx);
  });
}

OrtStatusPtr Log2AttnMatMulOp::CreateKernelV2(const OrtApi& api, const OrtKernelInfo* info, void** kernel) const {
  try {
    Ort::ConstKernelInfo ki(info);
    std::string node = "Log2AttnMatMul node '" + ki.GetNodeName() + "'";
    auto fail = [&](const std::string& what) { return std::runtime_error(node + ": " + what); };
    Isa isa = ResolveNodeIsa(api, info, "Log2AttnMatMul", ki.GetNodeName());
    float a_scale = 0;
    if (OrtStatus* status = api.KernelInfoGetAttribute_float(info, "a_scale", &a_scale)) {
      api.ReleaseStatus(status);
      throw fail("the attribute a_scale (the log√2 scale s) is required");
    }
    if (!(a_scale > 0) || !std::isfinite(a_scale)) throw fail("a_scale must be positive and finite");
    Ort::ConstValue tv = ConstantInput(ki, 1, "Log2AttnMatMul", "thresholds");
    size_t levels = tv.GetTensorTypeAndShapeInfo().GetElementCount();
    if (levels < 4 || levels > 256 || (levels & (levels - 1)) != 0)
      throw fail("thresholds must hold 2^b values with 2 <= b <= 8 (got " + std::to_string(levels) + ")");
    const float* tp = tv.GetTensorData<float>();
    std::vector<float> thresholds(tp, tp + levels);
    Ort::ConstValue sv = ConstantInput(ki, 3, "Log2AttnMatMul", "v_scale");
    if (sv.GetTensorTypeAndShapeInfo().GetElementCount() != 1) throw fail("v_scale must be one value (V per tensor)");
    float v_scale = sv.GetTensorData<float>()[0];
    if (!std::isfinite(v_scale)) throw fail("v_scale must be finite");
    int32_t zero = 0;
    if (ki.GetInputCount() > 4 && !ki.GetInputName(4).empty()) {
      Ort::ConstValue zv = ConstantInput(ki, 4, "Log2AttnMatMul", "v_zero_point");
      auto info_z = zv.GetTensorTypeAndShapeInfo();
      if (info_z.GetElementCount() != 1) throw fail("v_zero_point must be one value");
      if (info_z.GetElementType() == ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8) zero = zv.GetTensorData<uint8_t>()[0];
      else if (info_z.GetElementType() == ONNX_TENSOR_ELEMENT_DATA_TYPE_INT8) zero = zv.GetTensorData<int8_t>()[0];
      else throw fail("v_zero_point must be uint8 or int8, like V");
    }
    *kernel = new Log2AttnMatMulKernel(std::move(thresholds), a_scale, v_scale, zero, isa, node);
    return nullptr;
  } catch (const std::exception& e) {
    return api.CreateStatus(ORT_INVALID_ARGUMENT, e.what());
  }
}

}  // namespace onnxquant
