// BcqMatMul on the GPU, LUT form. A thread block takes one row of A and builds its 16-entry half tables
// (BcqHalfTable, the CPU's own function) and block sums in shared memory; then one warp per output column:
// lane l takes whole weight blocks l, l+32, …, and for each plane sums T_g[byte] = lo[byte & 15] + hi[byte >> 4]
// over the block's groups in order from 0 (the CPU's s for that plane and block: each plane's chain is the same
// sequence of additions, only interleaved with the other planes'). The per-(block, plane) terms then go through
// the CPU's fmaf chain in block order, plane order, offsets last (bcq_scalar.cc), broadcast by shuffles.
#include <cstdint>

#include "../src/bcq_table_math.h"
#include "onnxquant_cuda.h"

namespace onnxquant {
namespace cuda {
namespace {

constexpr int kWarps = 8;

template <int P>
__global__ void __launch_bounds__(kWarps * 32) BcqRows(const float* a, const uint8_t* bits, const float* alphas,
                                                       const float* offsets, const float* bias, float* y, int64_t n,
                                                       int64_t k, int64_t block) {
  extern __shared__ float shared[];
  const int64_t groups = (k + 7) / 8, gpb = block / 8, blocks = (k + block - 1) / block;
  float* halves = shared;                   // [groups][32]: lo then hi
  float* block_sums = shared + groups * 32;  // [blocks]
  const int64_t row = blockIdx.y;
  const float* x = a + row * k;
  for (int64_t g = threadIdx.x; g < groups; g += blockDim.x) {
    float v[8];
    for (int j = 0; j < 8; j++) v[j] = 8 * g + j < k ? x[8 * g + j] : 0.0f;
    BcqHalfTable(v, halves + g * 32);
    BcqHalfTable(v + 4, halves + g * 32 + 16);
  }
  if (offsets != nullptr)
    for (int64_t b = threadIdx.x; b < blocks; b += blockDim.x) {
      float sum = 0.0f;
      for (int64_t g = b * gpb; g < (b + 1) * gpb && g < groups; g++) {
        float v[8];
        for (int j = 0; j < 8; j++) v[j] = 8 * g + j < k ? x[8 * g + j] : 0.0f;
        sum = __fadd_rn(sum, BcqGroupSum(v));
      }
      block_sums[b] = sum;
    }
  __syncthreads();
  const int lane = threadIdx.x % 32;
  for (int64_t col = static_cast<int64_t>(blockIdx.x) * kWarps + threadIdx.x / 32; col < n;
       col += static_cast<int64_t>(gridDim.x) * kWarps) {
    float acc = 0.0f;
    for (int64_t base = 0; base < blocks; base += 32) {
      const int64_t b = base + lane;
      float s[P];
      for (int i = 0; i < P; i++) s[i] = 0.0f;
      if (b < blocks) {
        const int64_t g1 = (b + 1) * gpb < groups ? (b + 1) * gpb : groups;
        for (int64_t g = b * gpb; g < g1; g++) {
          const float* lo = halves + g * 32;
          for (int i = 0; i < P; i++) {
            const unsigned byte = bits[(col * P + i) * groups + g];
            s[i] = __fadd_rn(s[i], __fadd_rn(lo[byte & 15], lo[16 + (byte >> 4)]));
          }
        }
      }
      const int live = blocks - base < 32 ? static_cast<int>(blocks - base) : 32;
      for (int j = 0; j < 32; j++) {
        float sj[P];
        for (int i = 0; i < P; i++) sj[i] = __shfl_sync(0xFFFFFFFFu, s[i], j);
        if (j < live) {
          const int64_t bj = base + j;
          for (int i = 0; i < P; i++) acc = fmaf(alphas[(col * blocks + bj) * P + i], sj[i], acc);
          if (offsets != nullptr) acc = fmaf(offsets[col * blocks + bj], block_sums[bj], acc);
        }
      }
    }
    if (lane == 0) y[row * n + col] = bias != nullptr ? __fadd_rn(acc, bias[col]) : acc;
  }
}

template <int P>
cudaError_t Launch(const DeviceBcqWeights& w, const float* a, int64_t rows, const float* bias, float* y,
                   cudaStream_t stream) {
  int device = 0, optin = 0, sms = 0;
  cudaError_t e = cudaGetDevice(&device);
  if (e == cudaSuccess) e = cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device);
  if (e == cudaSuccess) e = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
  if (e != cudaSuccess) return e;
  const int64_t groups = (w.k + 7) / 8, blocks = (w.k + w.block - 1) / w.block;
  const size_t bytes = static_cast<size_t>(groups * 32 + blocks) * sizeof(float);
  if (bytes > static_cast<size_t>(optin)) return cudaErrorInvalidValue;
  if (bytes > 48 * 1024) {
    e = cudaFuncSetAttribute(BcqRows<P>, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes));
    if (e != cudaSuccess) return e;
  }
  // Enough thread blocks to fill the GPU once per row; each builds its row's tables once and loops over columns.
  int64_t column_blocks = (w.n + kWarps - 1) / kWarps, wanted = (2 * sms + rows - 1) / rows;
  if (column_blocks > wanted) column_blocks = wanted < 1 ? 1 : wanted;
  const dim3 grid(static_cast<unsigned>(column_blocks), static_cast<unsigned>(rows));
  BcqRows<P><<<grid, kWarps * 32, bytes, stream>>>(a, w.bits, w.alphas, w.offsets, bias, y, w.n, w.k, w.block);
  return cudaGetLastError();
}

}  // namespace

cudaError_t BcqMatMul(const DeviceBcqWeights& w, const float* a, int64_t rows, const float* bias, float* y,
                      cudaStream_t stream) {
  if (w.block < 8 || w.block % 8 != 0 || w.planes < 1 || w.planes > 4) return cudaErrorInvalidValue;
  if (rows == 0) return cudaSuccess;
  switch (w.planes) {
    case 1: return Launch<1>(w, a, rows, bias, y, stream);
    case 2: return Launch<2>(w, a, rows, bias, y, stream);
    case 3: return Launch<3>(w, a, rows, bias, y, stream);
    default: return Launch<4>(w, a, rows, bias, y, stream);
  }
}

}  // namespace cuda
}  // namespace onnxquant
