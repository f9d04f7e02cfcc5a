// MatMulW4A8 and MatMulW8A8 on the GPU: per-token activation quantization, then an int32 dp4a GEMM whose per-block
// float epilogue is the CPU scalar path's (gemm_scalar.cc): acc = fmaf(float(dot − zero·Σq), scale, acc) over the
// blocks in order, then y = fmaf(acc, a_scale, bias). One thread (or, for decode, one warp) owns an output element
// and performs exactly that chain, so results match the CPU bit for bit.
#include <cstdint>

#include "../src/quantize_code.h"
#include "int8_dot.h"
#include "onnxquant_cuda.h"

namespace onnxquant {
namespace cuda {
namespace {

constexpr int kQuantizeThreads = 256;

// One thread block per row. Codes are written at their NibblePosition when `permuted` (W4A8); Σ q per block goes to
// sums (zeroed by the caller) with one atomicAdd per thread and block touched: integer sums are exact in any order.
template <bool kPermuted>
__global__ void QuantizeRows(const float* a, int64_t k, int64_t padded_k, int64_t block, int8_t* q, float* scale,
                             int32_t* sums) {
  const int64_t row = blockIdx.x;
  const float* x = a + row * k;
  __shared__ float partial[kQuantizeThreads];
  float amax = 0.0f;
  for (int64_t i = threadIdx.x; i < k; i += blockDim.x) {
    float v = fabsf(x[i]);
    amax = v > amax ? v : amax;  // as the CPU: a NaN never wins
  }
  partial[threadIdx.x] = amax;
  __syncthreads();
  for (int stride = blockDim.x / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) {
      float other = partial[threadIdx.x + stride];
      partial[threadIdx.x] = other > partial[threadIdx.x] ? other : partial[threadIdx.x];
    }
    __syncthreads();
  }
  float inv, row_scale;
  ActivationScale(partial[0], &inv, &row_scale);
  if (threadIdx.x == 0) scale[row] = row_scale;
  // Each thread takes a contiguous run of whole groups of 8 (padded_k is a multiple of 4; W4A8's of 8).
  const int64_t per = (padded_k + blockDim.x * 8 - 1) / (blockDim.x * 8) * 8;
  const int64_t begin = threadIdx.x * per, end = begin + per < padded_k ? begin + per : padded_k;
  int8_t* out = q + row * padded_k;
  int32_t run = 0;
  int64_t run_block = begin / block;
  for (int64_t i = begin; i < end; i++) {
    int32_t v = i < k ? QuantizeCode(x[i], inv) : 0;
    int64_t at = kPermuted ? (i & ~int64_t{7}) + NibblePosition(static_cast<int>(i & 7)) : i;
    out[at] = static_cast<int8_t>(v);
    if (sums != nullptr) {
      if (i / block != run_block) {
        atomicAdd(sums + row * (padded_k / block) + run_block, run);
        run = 0;
        run_block = i / block;
      }
      run += v;
    }
  }
  if (sums != nullptr && begin < end) atomicAdd(sums + row * (padded_k / block) + run_block, run);
}

// ---- tiled GEMM for prefill: 64×64 outputs per thread block, 4×4 per thread, K in chunks of up to 64 codes ----
constexpr int kTile = 64, kChunk = 64, kThreads = 256, kWords = kChunk / 4;

// kNibbles: W4A8 (codes are words of 8 nibbles, zero points per block) else W8A8 (words of 4 signed int8, zero 0,
// one block over the whole padded K).
template <bool kNibbles>
__global__ void __launch_bounds__(kThreads) GemmTiled(const int32_t* aq, const float* a_scale, const int32_t* a_sums,
                                                      const uint32_t* codes, const float* w_scales,
                                                      const int32_t* w_zeros, const float* bias, float* y,
                                                      int64_t rows, int64_t n, int64_t padded_k, int64_t block,
                                                      int64_t blocks) {
  __shared__ int32_t as[kTile][kWords + 1];
  __shared__ uint32_t ws[kTile][kWords + 1];
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  const int64_t row0 = static_cast<int64_t>(blockIdx.y) * kTile, col0 = static_cast<int64_t>(blockIdx.x) * kTile;
  const int64_t a_words = padded_k / 4, w_words = padded_k / (kNibbles ? 8 : 4);
  float acc[4][4];
  int32_t dot[4][4];
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 4; j++) acc[i][j] = 0.0f, dot[i][j] = 0;
  for (int64_t b = 0; b < blocks; b++) {
    for (int64_t c0 = b * block; c0 < (b + 1) * block; c0 += kChunk) {
      const int len = static_cast<int>((b + 1) * block - c0 < kChunk ? (b + 1) * block - c0 : kChunk);
      const int alen = len / 4, wlen = len / (kNibbles ? 8 : 4);
      for (int idx = threadIdx.x; idx < kTile * alen; idx += kThreads) {
        int r = idx / alen, w = idx % alen;
        as[r][w] = row0 + r < rows ? aq[(row0 + r) * a_words + c0 / 4 + w] : 0;
      }
      for (int idx = threadIdx.x; idx < kTile * wlen; idx += kThreads) {
        int c = idx / wlen, w = idx % wlen;
        ws[c][w] = col0 + c < n ? codes[(col0 + c) * w_words + c0 / (kNibbles ? 8 : 4) + w] : 0u;
      }
      __syncthreads();
      for (int w = 0; w < wlen; w++) {
        uint32_t wv[4];
        for (int j = 0; j < 4; j++) wv[j] = ws[tx + 16 * j][w];
        for (int i = 0; i < 4; i++) {
          if (kNibbles) {
            const int32_t even = as[ty + 16 * i][2 * w], odd = as[ty + 16 * i][2 * w + 1];
            for (int j = 0; j < 4; j++) dot[i][j] = NibbleDot8(wv[j], even, odd, dot[i][j]);
          } else {
            const int32_t av = as[ty + 16 * i][w];
            for (int j = 0; j < 4; j++) dot[i][j] = Dp4a(static_cast<int32_t>(wv[j]), av, dot[i][j]);
          }
        }
      }
      __syncthreads();
    }
    for (int i = 0; i < 4; i++) {
      const int64_t row = row0 + ty + 16 * i;
      for (int j = 0; j < 4; j++) {
        const int64_t col = col0 + tx + 16 * j;
        if (row < rows && col < n) {
          int32_t d = dot[i][j];
          if (kNibbles) d -= w_zeros[col * blocks + b] * a_sums[row * blocks + b];
          acc[i][j] = fmaf(static_cast<float>(d), w_scales[col * blocks + b], acc[i][j]);
        }
        dot[i][j] = 0;
      }
    }
  }
  for (int i = 0; i < 4; i++) {
    const int64_t row = row0 + ty + 16 * i;
    for (int j = 0; j < 4; j++) {
      const int64_t col = col0 + tx + 16 * j;
      if (row < rows && col < n) y[row * n + col] = fmaf(acc[i][j], a_scale[row], bias != nullptr ? bias[col] : 0.0f);
    }
  }
}

// ---- decode (few rows): one warp per output column ----
constexpr int kWarpsPerBlock = 8;
constexpr int kGemvMaxRows = 8;

// W4A8: lane l takes whole blocks l, l+32, …; the per-block terms are then chained in block order through shuffles,
// every lane computing the same fmaf chain.
__global__ void GemvW4(const int32_t* aq, const float* a_scale, const int32_t* a_sums, const uint32_t* codes,
                       const float* w_scales, const int32_t* w_zeros, const float* bias, float* y, int64_t rows,
                       int64_t n, int64_t padded_k, int64_t block, int64_t blocks) {
  const int lane = threadIdx.x % 32;
  const int64_t col = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
  if (col >= n) return;  // whole warps leave together
  const int64_t words = padded_k / 8, block_words = block / 8;
  const uint32_t* wcol = codes + col * words;
  for (int64_t row = 0; row < rows; row++) {
    const int32_t* arow = aq + row * (padded_k / 4);
    float acc = 0.0f;
    for (int64_t base = 0; base < blocks; base += 32) {
      const int64_t b = base + lane;
      float term = 0.0f, scale = 0.0f;
      if (b < blocks) {
        int32_t dot = 0;
        for (int64_t w = b * block_words; w < (b + 1) * block_words; w++) dot = NibbleDot8(wcol[w], arow[2 * w], arow[2 * w + 1], dot);
        dot -= w_zeros[col * blocks + b] * a_sums[row * blocks + b];
        term = static_cast<float>(dot);
        scale = w_scales[col * blocks + b];
      }
      const int live = blocks - base < 32 ? static_cast<int>(blocks - base) : 32;
      for (int j = 0; j < 32; j++) {
        const float tj = __shfl_sync(0xFFFFFFFFu, term, j), sj = __shfl_sync(0xFFFFFFFFu, scale, j);
        if (j < live) acc = fmaf(tj, sj, acc);
      }
    }
    if (lane == 0) y[row * n + col] = fmaf(acc, a_scale[row], bias != nullptr ? bias[col] : 0.0f);
  }
}

// W8A8: one block, so the lanes split K freely and reduce their exact int32 partial sums.
__global__ void GemvW8(const int32_t* aq, const float* a_scale, const uint32_t* codes, const float* w_scales,
                       const float* bias, float* y, int64_t rows, int64_t n, int64_t padded_k) {
  const int lane = threadIdx.x % 32;
  const int64_t col = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
  if (col >= n) return;
  const int64_t words = padded_k / 4;
  const uint32_t* wcol = codes + col * words;
  for (int64_t row = 0; row < rows; row++) {
    const int32_t* arow = aq + row * words;
    int32_t dot = 0;
    for (int64_t w = lane; w < words; w += 32) dot = Dp4a(static_cast<int32_t>(wcol[w]), arow[w], dot);
    for (int off = 16; off > 0; off /= 2) dot += __shfl_xor_sync(0xFFFFFFFFu, dot, off);
    if (lane == 0) {
      float acc = fmaf(static_cast<float>(dot), w_scales[col], 0.0f);
      y[row * n + col] = fmaf(acc, a_scale[row], bias != nullptr ? bias[col] : 0.0f);
    }
  }
}

cudaError_t Quantize(const float* a, int64_t rows, int64_t k, int64_t block, bool permuted, DeviceActivations& ws,
                     cudaStream_t stream) {
  if (ws.rows < rows) return cudaErrorInvalidValue;
  if (ws.sums != nullptr) {
    cudaError_t e = cudaMemsetAsync(ws.sums, 0, static_cast<size_t>(rows * ws.blocks) * sizeof(int32_t), stream);
    if (e != cudaSuccess) return e;
  }
  if (permuted)
    QuantizeRows<true><<<static_cast<unsigned>(rows), kQuantizeThreads, 0, stream>>>(a, k, ws.padded_k, block, ws.q, ws.scale, ws.sums);
  else
    QuantizeRows<false><<<static_cast<unsigned>(rows), kQuantizeThreads, 0, stream>>>(a, k, ws.padded_k, block, ws.q, ws.scale, nullptr);
  return cudaGetLastError();
}

dim3 TiledGrid(int64_t rows, int64_t n) {
  return dim3(static_cast<unsigned>((n + kTile - 1) / kTile), static_cast<unsigned>((rows + kTile - 1) / kTile));
}

}  // namespace

cudaError_t AllocateActivations(int64_t rows, int64_t padded_k, int64_t blocks, bool with_sums, DeviceActivations* out) {
  *out = DeviceActivations{};
  out->rows = rows;
  out->padded_k = padded_k;
  out->blocks = blocks;
  cudaError_t e = cudaMalloc(&out->q, static_cast<size_t>(rows * padded_k));
  if (e == cudaSuccess) e = cudaMalloc(&out->scale, static_cast<size_t>(rows) * sizeof(float));
  if (e == cudaSuccess && with_sums) e = cudaMalloc(&out->sums, static_cast<size_t>(rows * blocks) * sizeof(int32_t));
  if (e != cudaSuccess) FreeActivations(out);
  return e;
}

void FreeActivations(DeviceActivations* a) {
  cudaFree(a->q);
  cudaFree(a->scale);
  cudaFree(a->sums);
  *a = DeviceActivations{};
}

cudaError_t MatMulW4A8(const DeviceW4Weights& w, const float* a, int64_t rows, const float* bias, float* y,
                       DeviceActivations& ws, cudaStream_t stream) {
  if (w.block < 8 || w.block % 8 != 0 || ws.padded_k != w.blocks * w.block || ws.blocks != w.blocks || ws.sums == nullptr)
    return cudaErrorInvalidValue;
  if (rows == 0) return cudaSuccess;
  cudaError_t e = Quantize(a, rows, w.k, w.block, true, ws, stream);
  if (e != cudaSuccess) return e;
  const int32_t* aq = reinterpret_cast<const int32_t*>(ws.q);
  if (rows <= kGemvMaxRows)
    GemvW4<<<static_cast<unsigned>((w.n + kWarpsPerBlock - 1) / kWarpsPerBlock), kWarpsPerBlock * 32, 0, stream>>>(
        aq, ws.scale, ws.sums, w.codes, w.scales, w.zeros, bias, y, rows, w.n, ws.padded_k, w.block, w.blocks);
  else
    GemmTiled<true><<<TiledGrid(rows, w.n), kThreads, 0, stream>>>(aq, ws.scale, ws.sums, w.codes, w.scales, w.zeros,
                                                                  bias, y, rows, w.n, ws.padded_k, w.block, w.blocks);
  return cudaGetLastError();
}

cudaError_t MatMulW8A8(const DeviceW8Weights& w, const float* a, int64_t rows, const float* bias, float* y,
                       DeviceActivations& ws, cudaStream_t stream) {
  const int64_t padded_k = (w.k + 3) / 4 * 4;
  if (ws.padded_k != padded_k || ws.blocks != 1) return cudaErrorInvalidValue;
  if (rows == 0) return cudaSuccess;
  cudaError_t e = Quantize(a, rows, w.k, padded_k, false, ws, stream);
  if (e != cudaSuccess) return e;
  const int32_t* aq = reinterpret_cast<const int32_t*>(ws.q);
  if (rows <= kGemvMaxRows)
    GemvW8<<<static_cast<unsigned>((w.n + kWarpsPerBlock - 1) / kWarpsPerBlock), kWarpsPerBlock * 32, 0, stream>>>(
        aq, ws.scale, w.codes, w.scales, bias, y, rows, w.n, padded_k);
  else
    GemmTiled<false><<<TiledGrid(rows, w.n), kThreads, 0, stream>>>(aq, ws.scale, nullptr, w.codes, w.scales, nullptr,
                                                                   bias, y, rows, w.n, padded_k, padded_k, 1);
  return cudaGetLastError();
}

}  // namespace cuda
}  // namespace onnxquant
