// HadamardTransform on the GPU: one row per thread block, held in shared memory. Each butterfly stage runs all of
// its independent (a + b, a − b) pairs in parallel; a stage's results depend only on the previous stage, so the
// values are those of the CPU's loop (hadamard_rows.cc) bit for bit. The segment combination then sums, per output,
// ±segment j from 0 in order j = 0..K−1, and the scale is the CPU's HadamardScale(d) (passed in).
#include <cstdint>

#include "../src/hadamard_rows.h"
#include "onnxquant_cuda.h"

namespace onnxquant {
namespace cuda {
namespace {

constexpr int kThreads = 512;

__global__ void __launch_bounds__(kThreads) HadamardRows(const float* x, float* y, int64_t d, int64_t k,
                                                         const int8_t* base, bool normalized, float scale) {
  extern __shared__ float work[];
  const int64_t row = blockIdx.x, p = d / k;
  for (int64_t i = threadIdx.x; i < d; i += blockDim.x) work[i] = x[row * d + i];
  __syncthreads();
  for (int64_t half = 1; half < p; half *= 2) {
    for (int64_t i = threadIdx.x; i < d / 2; i += blockDim.x) {
      const int64_t segment = i / (p / 2), within = i % (p / 2);
      const int64_t at = segment * p + within / half * 2 * half + within % half;
      const float a = work[at], b = work[at + half];
      work[at] = __fadd_rn(a, b);
      work[at + half] = __fsub_rn(a, b);
    }
    __syncthreads();
  }
  for (int64_t o = threadIdx.x; o < d; o += blockDim.x) {
    float v;
    if (k > 1) {
      const int64_t i = o / p, t = o % p;
      v = 0.0f;
      for (int64_t j = 0; j < k; j++)
        v = base[i * k + j] < 0 ? __fsub_rn(v, work[j * p + t]) : __fadd_rn(v, work[j * p + t]);
    } else {
      v = work[o];
    }
    y[row * d + o] = normalized ? __fmul_rn(v, scale) : v;
  }
}

}  // namespace

cudaError_t HadamardTransform(const float* x, float* y, int64_t rows, int64_t d, int64_t k, const int8_t* base,
                              bool normalized, cudaStream_t stream) {
  const int64_t p = k > 0 && d % k == 0 ? d / k : 0;
  if (p == 0 || (p & (p - 1)) != 0 || (k > 1 && base == nullptr)) return cudaErrorInvalidValue;
  if (rows == 0) return cudaSuccess;
  int device = 0, optin = 0;
  cudaError_t e = cudaGetDevice(&device);
  if (e == cudaSuccess) e = cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device);
  if (e != cudaSuccess) return e;
  const size_t bytes = static_cast<size_t>(d) * sizeof(float);
  if (bytes > static_cast<size_t>(optin)) return cudaErrorInvalidValue;
  if (bytes > 48 * 1024) {
    e = cudaFuncSetAttribute(HadamardRows, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes));
    if (e != cudaSuccess) return e;
  }
  const float scale = HadamardScale(d);
  HadamardRows<<<static_cast<unsigned>(rows), kThreads, bytes, stream>>>(x, y, d, k, base, normalized, scale);
  return cudaGetLastError();
}

}  // namespace cuda
}  // namespace onnxquant
