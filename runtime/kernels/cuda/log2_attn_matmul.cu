// Log2AttnMatMul on the GPU: one thread block per (head, row of A). The row's log√2 codes (a count of thresholds,
// as the CPU counts them) go to shared memory; then each thread owns output columns.
//  - b ≤ 6 levels: the thread sums E = Σ_{q_j even} (v_j − z)·2^(S − q_j/2) and O likewise over the keys j
//    directly in int64. That is the CPU's Σ_q acc_q·2^(…) regrouped: integer sums are exact, so E and O are equal.
//  - b = 7, 8: the CPU rounds double sums of acc_q·2^(…) in code order, so the kernel first accumulates acc_q
//    (int32, exact) per code in shared memory, then adds the terms in code order (absent codes add +0: no change).
// Both end in Log2AttnCombine, the CPU's own final operations.
#include <cstdint>

#include "../src/log2_attn_rows.h"
#include "onnxquant_cuda.h"

namespace onnxquant {
namespace cuda {
namespace {

constexpr int kWideColumns = 32;  // columns per pass in the 7/8-bit kernel: levels × 32 int32 of shared memory

__device__ void RowCodes(const float* arow, int64_t t, const float* thresholds, int levels, uint16_t* codes) {
  for (int64_t j = threadIdx.x; j < t; j += blockDim.x) {
    const float x = arow[j];
    int q = 0;
    for (int k = 0; k < levels; k++) q += x <= thresholds[k] ? 1 : 0;
    codes[j] = static_cast<uint16_t>(q);
  }
}

template <typename V>
__global__ void Log2Exact(const float* a, const V* v, int32_t zero, float* y, int64_t m, int64_t t, int64_t n,
                          const float* thresholds, int levels, double factor) {
  extern __shared__ uint16_t codes[];
  const int64_t head = blockIdx.y, row = blockIdx.x;
  RowCodes(a + (head * m + row) * t, t, thresholds, levels, codes);
  __syncthreads();
  const int shift = Log2AttnShift(levels);
  const V* vh = v + head * t * n;
  for (int64_t c = threadIdx.x; c < n; c += blockDim.x) {
    int64_t even = 0, odd = 0;
    for (int64_t j = 0; j < t; j++) {
      const int q = codes[j];
      if (q >= levels) continue;
      const int64_t term = static_cast<int64_t>(static_cast<int32_t>(vh[j * n + c]) - zero);
      if (q % 2 == 0) even += term * (int64_t{1} << (shift - q / 2));
      else odd += term * (int64_t{1} << (shift - (q + 1) / 2));
    }
    y[(head * m + row) * n + c] = Log2AttnCombine(static_cast<double>(even), static_cast<double>(odd), factor);
  }
}

template <typename V>
__global__ void Log2Wide(const float* a, const V* v, int32_t zero, float* y, int64_t m, int64_t t, int64_t n,
                         const float* thresholds, int levels, double factor) {
  extern __shared__ int32_t shared[];
  int32_t* acc = shared;                                                  // [levels][kWideColumns]
  uint16_t* codes = reinterpret_cast<uint16_t*>(shared + levels * kWideColumns);  // [t]
  const int64_t head = blockIdx.y, row = blockIdx.x;
  RowCodes(a + (head * m + row) * t, t, thresholds, levels, codes);
  __syncthreads();
  const int shift = Log2AttnShift(levels);
  const V* vh = v + head * t * n;
  const int lane = threadIdx.x;  // blockDim.x == kWideColumns
  for (int64_t c0 = 0; c0 < n; c0 += kWideColumns) {
    const int64_t c = c0 + lane;
    for (int q = 0; q < levels; q++) acc[q * kWideColumns + lane] = 0;
    if (c < n)
      for (int64_t j = 0; j < t; j++) {
        const int q = codes[j];
        if (q < levels) acc[q * kWideColumns + lane] += static_cast<int32_t>(vh[j * n + c]) - zero;
      }
    if (c < n) {
      double even_sum = 0, odd_sum = 0;
      for (int q = 0; q < levels; q++) {
        const double term = static_cast<double>(acc[q * kWideColumns + lane]);
        if (q % 2 == 0) even_sum = __dadd_rn(even_sum, ldexp(term, shift - q / 2));
        else odd_sum = __dadd_rn(odd_sum, ldexp(term, shift - (q + 1) / 2));
      }
      y[(head * m + row) * n + c] = Log2AttnCombine(even_sum, odd_sum, factor);
    }
  }
}

template <typename V>
cudaError_t Launch(const float* a, const V* v, int32_t zero, float* y, int64_t heads, int64_t m, int64_t t, int64_t n,
                   const float* thresholds, int levels, double factor, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(m), static_cast<unsigned>(heads));
  const size_t code_bytes = static_cast<size_t>(t) * sizeof(uint16_t);
  if (Log2AttnShift(levels) <= kLog2ExactShift) {
    const int threads = n >= 256 ? 256 : static_cast<int>((n + 31) / 32 * 32);
    if (code_bytes > 48 * 1024) return cudaErrorInvalidValue;
    Log2Exact<V><<<grid, threads, code_bytes, stream>>>(a, v, zero, y, m, t, n, thresholds, levels, factor);
  } else {
    const size_t bytes = static_cast<size_t>(levels) * kWideColumns * sizeof(int32_t) + code_bytes;
    if (bytes > 48 * 1024) return cudaErrorInvalidValue;
    Log2Wide<V><<<grid, kWideColumns, bytes, stream>>>(a, v, zero, y, m, t, n, thresholds, levels, factor);
  }
  return cudaGetLastError();
}

}  // namespace

cudaError_t Log2AttnMatMul(const float* a, const void* v, bool v_signed, int32_t v_zero, float* y, int64_t heads,
                           int64_t m, int64_t t, int64_t n, const float* thresholds, int levels, double factor,
                           cudaStream_t stream) {
  if (levels < 4 || levels > 256 || (levels & (levels - 1)) != 0) return cudaErrorInvalidValue;
  // The CPU op's limit: |v − z| ≤ 255, so the int32 and int64 sums stay exact.
  const int shift = Log2AttnShift(levels);
  if (t > (int64_t{1} << 23) || (shift <= kLog2ExactShift && t > (int64_t{1} << (54 - shift)))) return cudaErrorInvalidValue;
  if (heads == 0 || m == 0 || n == 0) return cudaSuccess;
  if (v_signed)
    return Launch(a, static_cast<const int8_t*>(v), v_zero, y, heads, m, t, n, thresholds, levels, factor, stream);
  return Launch(a, static_cast<const uint8_t*>(v), v_zero, y, heads, m, t, n, thresholds, levels, factor, stream);
}

}  // namespace cuda
}  // namespace onnxquant
