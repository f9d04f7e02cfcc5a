// Log2AttnMatMul's arithmetic, free of ONNX Runtime: the op (log2_attn_matmul.cc) runs Log2AttnRows on ORT's thread
// pool, the CUDA harness uses it as the reference, and the CUDA kernel shares Log2AttnShift, Log2AttnFactor and
// Log2AttnCombine so its final float operations are literally the CPU's.
#pragma once
#include <cmath>
#include <cstdint>

#include "host_device.h"
#include "isa.h"

namespace onnxquant {

// b <= 6 (S = 2^(b−1) <= 32): E and O are exact int64 sums; above, double sums of exact terms in code order.
constexpr int kLog2ExactShift = 32;
constexpr double kLog2Sqrt2 = 1.4142135623730951;

// The per-path pieces (log2_attn_paths.cc). All are exact integer work, so every path gives the same bits.
// codes[j] = #{k < levels : a[j] <= thresholds[k]}  (levels = 2^b; the code `levels` means "zero").
void Log2Codes(Isa isa, const float* a, int64_t count, const float* thresholds, int levels, uint16_t* codes);
// acc[q][0..n) = Σ v[j][0..n) over the j < t whose code is q < levels (acc is [levels][n], v is [t][n]); used[q]
// (cleared by the caller) says which codes occurred: the accumulators of the others are left as they were.
void Log2Accumulate(Isa isa, const uint16_t* codes, int64_t t, const int32_t* v, int64_t n, int levels, int32_t* acc,
                    uint8_t* used);

// S = 2^(b−1) for 2^b levels.
ONNXQUANT_HD int Log2AttnShift(int levels) { return levels / 2; }
// fl64(s · s_V · 2^−S).
inline double Log2AttnFactor(float a_scale, float v_scale, int shift) {
  return std::ldexp(static_cast<double>(a_scale) * static_cast<double>(v_scale), -shift);
}
// Y = fl32(factor · (E + √2 · O)).
ONNXQUANT_HD float Log2AttnCombine(double even_sum, double odd_sum, double factor) {
  return static_cast<float>(MulRn(factor, AddRn(even_sum, MulRn(kLog2Sqrt2, odd_sum))));
}

// One head's problem: A [heads, m, t] float, V [heads, t, n] (int8 when v_signed, else uint8), Y [heads, m, n].
struct Log2AttnProblem {
  const float* a;
  const void* v;
  bool v_signed;
  float* y;
  int64_t m, t, n;
  const float* thresholds;
  int levels;
  int32_t zero;
  double factor;  // Log2AttnFactor
  Isa isa;
};

// Rows [first, last) of head `head`.
void Log2AttnRows(const Log2AttnProblem& p, int64_t head, int64_t first, int64_t last);

}  // namespace onnxquant
