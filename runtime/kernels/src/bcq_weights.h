// BcqMatMul's weight layout after packing, its per-row lookup tables, and the kernel of each instruction-set path.
//
// Binary-coded weights (LUT-GEMM, Park et al. 2024; the format GPTQT exports): w[n,k] ≈ c[n,b] + Σᵢ α[n,b,i]·bᵢ[n,k]
// with bᵢ ∈ {−1, +1}, b = k / block_size. For one row x of A and one group g of 8 activations the table
// T_g[s] = Σ_{j<8} (bit j of s ? +x_{8g+j} : −x_{8g+j}) holds every signed sum of the group, so a plane's dot product
// over a group is one lookup with that plane's 8 sign bits as the index.
//
//   data[tile][group][plane][lane 0..15]  one byte per (column, plane, group of 8 k): bit j = weight 8g+j is +1
//   alphas[tile][block][plane][lane], offsets[tile][block][lane]   (padding columns hold 0)
//
// Every path computes, per column, with the same float operations in the same order (bit-identical results):
//   y = 0; for each block b: for each plane i: s = Σ_{g∈b} T_g[byte] (in group order, from 0); y = fma(α, s, y);
//                            then, with offsets, y = fma(c, S_b, y) where S_b = Σ_{g∈b} sum_g (in order);
//   y = y + bias.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace onnxquant {

constexpr int kBcqLanes = 16;
constexpr int kBcqTable = 256;

struct BcqWeights {
  int64_t n = 0, k = 0, planes = 0, block = 0;
  int64_t blocks = 0;   // ceil(k / block)
  int64_t groups = 0;   // ceil(k / 8)
  int64_t tiles = 0;    // ceil(n / 16)
  bool has_offsets = false;
  std::vector<uint8_t> data;
  std::vector<float> alphas;
  std::vector<float> offsets;

  int64_t GroupsPerBlock() const { return block / 8; }
  const uint8_t* Tile(int64_t tile) const { return data.data() + tile * groups * planes * kBcqLanes; }
};

// One row's tables: table[g·256 + s] = T_g[s]; block_sums[b] = S_b = Σ_{g∈b} (x_{8g} + … + x_{8g+7}), each group
// summed left to right, the groups in order from 0 (the offsets' factor).
struct BcqTables {
  std::vector<float> table;
  std::vector<float> block_sums;
};

// Fills the tables for one row x of K values (zeros past K). T_g[0] = −x0 − x1 − … − x7 (left to right, from 0),
// then T_g[s] = T_g[s − 2^h] + (x_h + x_h) with h the highest bit of s: each entry is a fixed sequence of IEEE
// additions, so any path that builds or reads it gets the same bits.
void BuildBcqTables(const float* x, const BcqWeights& w, BcqTables& out);

// Columns of tiles [tile_begin, tile_end) for one row: y[col] for col < n.
using BcqFn = void (*)(const BcqWeights& w, const BcqTables& t, const float* bias, float* y, int64_t tile_begin,
                       int64_t tile_end);
void BcqScalar(const BcqWeights&, const BcqTables&, const float*, float*, int64_t, int64_t);
void BcqAvx2(const BcqWeights&, const BcqTables&, const float*, float*, int64_t, int64_t);
void BcqAvx512(const BcqWeights&, const BcqTables&, const float*, float*, int64_t, int64_t);

}  // namespace onnxquant
