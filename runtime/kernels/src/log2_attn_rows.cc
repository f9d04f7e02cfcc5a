// Log2AttnMatMul per output row: codes, code-indexed integer accumulation, then the shift combination
//   E = Σ_{q even} acc_q·2^(S − q/2),  O = Σ_{q odd} acc_q·2^(S − (q+1)/2)
// and Y = Log2AttnCombine(E, O, factor).
#include "log2_attn_rows.h"

#include <algorithm>
#include <vector>

namespace onnxquant {

void Log2AttnRows(const Log2AttnProblem& job, int64_t head, int64_t first, int64_t last) {
  const int64_t t = job.t, n = job.n;
  const int shift = Log2AttnShift(job.levels);
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
      if (shift <= kLog2ExactShift) {
        int64_t even = 0, odd = 0;
        for (int q : present) {
          int64_t term = static_cast<int64_t>(acc[q * n + c]);
          if (q % 2 == 0) even += term * (int64_t{1} << (shift - q / 2));
          else odd += term * (int64_t{1} << (shift - (q + 1) / 2));
        }
        even_sum = static_cast<double>(even);
        odd_sum = static_cast<double>(odd);
      } else {  // 7 and 8 bits: each term acc·2^k is exact in double; their sum is rounded in code order
        even_sum = 0;
        odd_sum = 0;
        for (int q : present) {
          double term = static_cast<double>(acc[q * n + c]);
          if (q % 2 == 0) even_sum += std::ldexp(term, shift - q / 2);
          else odd_sum += std::ldexp(term, shift - (q + 1) / 2);
        }
      }
      y[c] = Log2AttnCombine(even_sum, odd_sum, job.factor);
    }
  }
}

}  // namespace onnxquant
