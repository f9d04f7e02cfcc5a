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

// One row's tables. Each group's 8 activations are two halves of 4: half tables L_g[t] = Σ_{j<4} ±x_{8g+j} and
// H_g[t] = Σ_{j<4} ±x_{8g+4+j} (16 entries each, t = 4 sign bits), and the group table T_g[s] = L_g[s & 15] +
// H_g[s >> 4] (256 entries). The AVX-512 path reads the half tables from registers (vpermps: 16 lookups per
// instruction); the scalar and AVX2 paths read T_g; both give the same bits since T_g is defined by that one sum.
//   table[g·256 + s] = T_g[s]; halves[g·32 + t] = L_g[t], halves[g·32 + 16 + t] = H_g[t];
//   block_sums[b] = S_b = Σ_{g∈b} (x_{8g} + … + x_{8g+7}), each group summed left to right, groups in order from 0.
struct BcqTables {
  std::vector<float> table;
  std::vector<float> halves;
  std::vector<float> block_sums;
};

// Fills the tables for one row x of K values (zeros past K). A half table starts from t = 0: −x₀ − x₁ − x₂ − x₃
// (left to right, from 0), then entry t = entry (t − 2^h) + (x_h + x_h) with h the highest bit of t: each entry is
// a fixed sequence of IEEE additions, so any path that builds or reads it gets the same bits.
void BuildBcqTables(const float* x, const BcqWeights& w, BcqTables& out);

// Packs the op's inputs into the layout above: planes [N, P, ⌈K/8⌉], alphas [N, blocks, P], offsets [N, blocks] or
// nullptr. Sizes are the caller's to check.
BcqWeights PackBcqWeights(const uint8_t* planes, const float* alphas, const float* offsets, int64_t k, int64_t n,
                          int64_t plane_count, int64_t block);

// Columns of tiles [tile_begin, tile_end) for one row: y[col] for col < n.
using BcqFn = void (*)(const BcqWeights& w, const BcqTables& t, const float* bias, float* y, int64_t tile_begin,
                       int64_t tile_end);
void BcqScalar(const BcqWeights&, const BcqTables&, const float*, float*, int64_t, int64_t);
void BcqAvx2(const BcqWeights&, const BcqTables&, const float*, float*, int64_t, int64_t);
void BcqAvx512(const BcqWeights&, const BcqTables&, const float*, float*, int64_t, int64_t);

}  // namespace onnxquant
