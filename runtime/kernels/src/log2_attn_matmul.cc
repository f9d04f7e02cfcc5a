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
constexpr double kSqrt2 = 1.4142135623730951;
constexpr int kExactShift = 32;  // b <= 6: E and O are exact int64 sums

struct Job {
  const float* a;
  const void* v;
  bool v_signed;
  float* y;
  int64_t m, t, n, row_blocks;
  const float* thresholds;
  int levels, shift;
  int32_t zero;
  double factor;
  Isa isa;
};

void RunTask(const Job& job, int64_t task) {
  const int64_t head = task / job.row_blocks, first = (task % job.row_blocks) * kRowBlock;
  const int64_t last = std::min(job.m, first + kRowBlock), t = job.t, n = job.n;
  std::vector<int32_t> v(static_cast<size_t>(t * n));
  if (job.v_signed) {
    const int8_t* src = static_cast<const int8_t*>(job.v) + head * t * n;
    for (int64_t i = 0; i < t * n; i++) v[i] = static_cast<int32_t>(src[i]) - job.zero;
  } else {
    const uint8_t* src = static_cast<const uint8_t*>(job.v) + head * t * n;
    for (int64_t i = 0; i < t * n; i++) v[i] = static_cast<int32_t>(src[i]) - job.zero;
  }
  std::vector<uint16_t> codes(static_cast<size_t>(t));
  std::vector<int32_t> acc(static_cast<size_t>(job.levels * n));
  std::vector<uint8_t> used(static_cast<size_t>(job.levels));
  std::vector<int> present;
  present.reserve(static_cast<size_t>(job.levels));
  for (int64_t row = first; row < last; row++) {
    Log2Codes(job.isa, job.a + (head * job.m + row) * t, t, job.thresholds, job.levels, codes.data());
    std::fill(used.begin(), used.end(), 0);
    Log2Accumulate(job.isa, codes.data(), t, v.data(), n, job.levels, acc.data(), used.data());
    present.clear();
    for (int q = 0; q < job.levels; q++)
      if (used[q]) present.push_back(q);
    float* y = job.y + (head * job.m + row) * n;
    for (int64_t c = 0; c < n; c++) {
      double even_sum, odd_sum;
      if (job.shift <= kExactShift) {
        int64_t even = 0, odd = 0;
        for (int q : present) {
          int64_t term = static_cast<int64_t>(acc[q * n + c]);
          if (q % 2 == 0) even += term * (int64_t{1} << (job.shift - q / 2));
          else odd += term * (int64_t{1} << (job.shift - (q + 1) / 2));
        }
        even_sum = static_cast<double>(even);
        odd_sum = static_cast<double>(odd);
      } else {  // 7 and 8 bits: each term acc·2^k is exact in double; their sum is rounded in code order
        even_sum = 0;
        odd_sum = 0;
        for (int q : present) {
          double term = static_cast<double>(acc[q * n + c]);
          if (q % 2 == 0) even_sum += std::ldexp(term, job.shift - q / 2);
          else odd_sum += std::ldexp(term, job.shift - (q + 1) / 2);
        }
      }
      y[c] = static_cast<float>(job.factor * (even_sum + kSqrt2 * odd_sum));
    }
  }
}

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
  const int shift = static_cast<int>(thresholds_.size() / 2);
  // |V − z| ≤ 255, so |acc| ≤ 255·T (int32) and |E|, |O| ≤ 255·T·2^(S+1) (int64).
  if (t > (int64_t{1} << 23) || (shift <= kExactShift && t > (int64_t{1} << (54 - shift))))
    throw std::runtime_error("T = " + std::to_string(t) + " keys exceed what the exact integer sums hold for " +
                             std::to_string(thresholds_.size()) + " codes");
  std::vector<int64_t> ys(as.begin(), as.end());
  ys.back() = n;
  Ort::UnownedValue yv = context.GetOutput(0, ys);
  if (batch == 0 || m == 0 || n == 0) return;
  Job job{av.GetTensorData<float>(), vv.GetTensorRawData(), vtype == ONNX_TENSOR_ELEMENT_DATA_TYPE_INT8,
          yv.GetTensorMutableData<float>(), m, t, n, (m + kRowBlock - 1) / kRowBlock, thresholds_.data(),
          static_cast<int>(thresholds_.size()), shift, v_zero_,
          std::ldexp(static_cast<double>(a_scale_) * static_cast<double>(v_scale_), -shift), isa_};
  context.ParallelFor([](void* data, size_t i) { RunTask(*static_cast<Job*>(data), static_cast<int64_t>(i)); },
                      static_cast<size_t>(batch * job.row_blocks), 0, &job);
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
