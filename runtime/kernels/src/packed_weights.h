// The one weight layout every GEMM path reads: unsigned codes with a zero point and a float scale per (column,
// block), columns in tiles of 16 (one AVX-512 register of int32 lanes), k in groups of 4 (one VNNI dot product).
//
//   byte format   (8-bit codes, MatMulW8A8):  data[tile][k/4][lane 0..15][k%4]
//   nibble format (4-bit codes, MatMulW4A8):  data[tile][k/8][lane 0..15][k%4], k%8 < 4 in the low nibble,
//                                             k%8 >= 4 in the high nibble: one 64-byte load holds two k groups
//                                             and the weights stay 4 bits wide in memory.
//   scales[tile][block][lane], zeros[tile][block][lane] (int32).
//
// A column's result is Σ_b scale[n,b] · (Σ_{k∈b} a_q[k]·code[n,k] − zero[n,b]·Σ_{k∈b} a_q[k]), accumulated in
// float in block order with one fused multiply-add per block, then · a_scale + bias (fused): every path performs the
// same float operations in the same order, so all paths agree bit for bit.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace onnxquant {

constexpr int kLanes = 16;
constexpr int kGroup = 4;

struct PackedWeights {
  int64_t n = 0, k = 0;      // logical sizes
  int64_t block = 0;         // k per block (multiple of 8 for nibbles, of 4 for bytes)
  int64_t blocks = 0;        // ceil(k / block)
  int64_t tiles = 0;         // ceil(n / 16)
  bool nibbles = false;
  std::vector<uint8_t> data;
  std::vector<float> scales;
  std::vector<int32_t> zeros;
  // The zero point every (column, block) shares, or -1: symmetric weights (MatMulNBits without zero points, every
  // MatMulW8A8) need no zero-point loads, which at one token are a sixth of the bytes a 4-bit GEMV streams.
  int32_t uniform_zero = -1;

  int64_t PaddedK() const { return blocks * block; }
  // Bytes of one tile: 16 lanes times 4 bytes per group of 4 k (nibbles: per group of 8 k).
  int64_t TileBytes() const { return PaddedK() / (nibbles ? 8 : 4) * kLanes * kGroup; }
  int Code(int64_t col, int64_t kk) const;  // for the scalar path and tests
  void Allocate();
  void SetCode(int64_t col, int64_t kk, int code);
  void FindUniformZero();  // sets uniform_zero from zeros
};

// Activations quantized per token (row): q = round_half_even(a · 127/amax) in [-127, 127], scale = amax/127,
// padded with zeros to the weights' padded K; sums[row][block] = Σ q over the block (for the zero points).
struct QuantizedActivations {
  int64_t rows = 0, padded_k = 0, blocks = 0;
  std::vector<int8_t> q;
  std::vector<float> scale;
  std::vector<int32_t> sums;
};

void QuantizeRow(const float* a, int64_t k, int64_t block, QuantizedActivations& out, int64_t row);
// The same with AVX-512 (F, BW, VL), bit for bit.
void QuantizeRowAvx512(const float* a, int64_t k, int64_t block, QuantizedActivations& out, int64_t row);
using QuantizeRowFn = void (*)(const float* a, int64_t k, int64_t block, QuantizedActivations& out, int64_t row);

// Packs com.microsoft MatMulNBits' 4-bit layout (what MatMulW4A8 reads): b [N][blocks][block/2] (element 2j in the low
// nibble), scales [N·blocks], zero_points [N][⌈blocks/2⌉] packed 4-bit or nullptr (every zero point 8). Sizes are the
// caller's to check.
PackedWeights PackMatMulNBits(const uint8_t* b, const float* scales, const uint8_t* zero_points, int64_t k, int64_t n,
                              int64_t block);
// The same for MatMulNBits with 8 bits (byte format): b [N][blocks][block] one code per byte, zero_points [N][blocks]
// one per byte or nullptr (every zero point 128). `block` must be a multiple of 4.
PackedWeights PackMatMulNBits8(const uint8_t* b, const float* scales, const uint8_t* zero_points, int64_t k, int64_t n,
                               int64_t block);
// Packs int8 weights w [K][N] (ONNX MatMul's layout) with `scale_count` (1 or N) per-column scales as codes w + 128
// with zero point 128 and one block spanning the whole (padded) K (what MatMulW8A8 reads).
PackedWeights PackInt8Weights(const int8_t* w, const float* scales, int64_t scale_count, int64_t k, int64_t n);

// Computes columns of tiles [tile_begin, tile_end) for every row: y[row][col] (leading dimension n).
using GemmFn = void (*)(const PackedWeights& w, const QuantizedActivations& a, const float* bias, float* y,
                        int64_t tile_begin, int64_t tile_end);
void GemmScalar(const PackedWeights&, const QuantizedActivations&, const float*, float*, int64_t, int64_t);
void GemmAvx2(const PackedWeights&, const QuantizedActivations&, const float*, float*, int64_t, int64_t);
void GemmAvxVnni(const PackedWeights&, const QuantizedActivations&, const float*, float*, int64_t, int64_t);
void GemmAvxVnniEvex(const PackedWeights&, const QuantizedActivations&, const float*, float*, int64_t, int64_t);
void GemmAvx512Vnni(const PackedWeights&, const QuantizedActivations&, const float*, float*, int64_t, int64_t);

}  // namespace onnxquant
