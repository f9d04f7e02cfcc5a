// CUDA versions of the com.onnxquant operators (runtime/kernels/src), free of ONNX Runtime: device-side weights,
// a launcher per operator, all asynchronous on the given stream. Same results as the CPU library's scalar path:
// bit for bit for every operator (integer sums are exact and order-free; the float operations are the scalar path's,
// in its order, with the rounding written out: fmaf, __fadd_rn, __fmul_rn). Needs compute capability 6.1+ (dp4a).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

namespace onnxquant {
namespace cuda {

// ---- MatMulW4A8 and MatMulW8A8: per-token int8 activations, int32 sums, group scales once per block ----

// Activations quantized on the GPU per row (the CPU's QuantizeRow): q [rows][padded_k] int8 (for W4A8 each group of
// 8 in NibblePosition order), scale [rows], sums [rows][blocks] (W4A8 only: Σ q per block, for the zero points).
struct DeviceActivations {
  int64_t rows = 0, padded_k = 0, blocks = 0;
  int8_t* q = nullptr;
  float* scale = nullptr;
  int32_t* sums = nullptr;
};

// W4A8 weights: MatMulNBits' B bytes unchanged (as words of 8 codes, [N][blocks·block/8]), scales [N][blocks],
// zero points unpacked to [N][blocks] (UnpackZeroPoints).
struct DeviceW4Weights {
  int64_t n = 0, k = 0, block = 0, blocks = 0;
  const uint32_t* codes = nullptr;
  const float* scales = nullptr;
  const int32_t* zeros = nullptr;
};

// W8A8 weights: signed int8 columns as words of 4 codes [N][Int8PaddedK(K)/4] (Int8ColumnWords), scales [N].
struct DeviceW8Weights {
  int64_t n = 0, k = 0;
  const uint32_t* codes = nullptr;
  const float* scales = nullptr;
};

// Allocates a workspace for up to `rows` rows (free with FreeActivations).
cudaError_t AllocateActivations(int64_t rows, int64_t padded_k, int64_t blocks, bool with_sums, DeviceActivations* out);
void FreeActivations(DeviceActivations* a);

// y [rows][N] = A [rows][K] · W + bias (bias: N floats or nullptr). All pointers are device pointers.
cudaError_t MatMulW4A8(const DeviceW4Weights& w, const float* a, int64_t rows, const float* bias, float* y,
                       DeviceActivations& workspace, cudaStream_t stream);
cudaError_t MatMulW8A8(const DeviceW8Weights& w, const float* a, int64_t rows, const float* bias, float* y,
                       DeviceActivations& workspace, cudaStream_t stream);

// ---- HadamardTransform: y[row] = s · (H_K ⊗ H_{2^m}) · x[row], d = K·2^m ----
// base: H_K int8 [K][K] of ±1 on the device (nullptr when K = 1). One row per thread block, held in shared memory:
// d ≤ the device's opt-in shared memory / 4 (≈ 56 K floats on an H100), else cudaErrorInvalidValue.
cudaError_t HadamardTransform(const float* x, float* y, int64_t rows, int64_t d, int64_t k, const int8_t* base,
                              bool normalized, cudaStream_t stream);

// ---- Log2AttnMatMul: Y [heads][m][n] = Â · V̂ from Softmax output A [heads][m][t] and V codes [heads][t][n] ----
// thresholds: `levels` (2^b, 4..256) floats on the device; v is int8 when v_signed, else uint8; factor is
// Log2AttnFactor(a_scale, v_scale, Log2AttnShift(levels)).
cudaError_t Log2AttnMatMul(const float* a, const void* v, bool v_signed, int32_t v_zero, float* y, int64_t heads,
                           int64_t m, int64_t t, int64_t n, const float* thresholds, int levels, double factor,
                           cudaStream_t stream);

// ---- BcqMatMul: binary-coded weights c + Σ α_i·b_i by lookup tables over groups of 8 activations ----
// The op's inputs unchanged: planes uint8 [N][P][⌈K/8⌉], alphas [N][blocks][P], offsets [N][blocks] or nullptr.
// Each thread block builds one row's 16-entry half tables in shared memory (⌈K/8⌉·128 bytes + 4 per block: K up to
// ≈ 14 K on an H100, else cudaErrorInvalidValue).
struct DeviceBcqWeights {
  int64_t n = 0, k = 0, planes = 0, block = 0;
  const uint8_t* bits = nullptr;
  const float* alphas = nullptr;
  const float* offsets = nullptr;
};
cudaError_t BcqMatMul(const DeviceBcqWeights& w, const float* a, int64_t rows, const float* bias, float* y,
                      cudaStream_t stream);

}  // namespace cuda
}  // namespace onnxquant
