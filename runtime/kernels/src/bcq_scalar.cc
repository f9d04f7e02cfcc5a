// BcqMatMul's portable path and the lookup-table builder every path shares: the reference the SIMD paths match.
#include <cmath>

#include "bcq_table_math.h"
#include "bcq_weights.h"

namespace onnxquant {

void BuildBcqTables(const float* x, const BcqWeights& w, BcqTables& out) {
  const int64_t k = w.k, groups = w.groups, gpb = w.GroupsPerBlock();
  out.table.resize(static_cast<size_t>(groups * kBcqTable));
  out.halves.resize(static_cast<size_t>(groups * 32));
  out.block_sums.assign(static_cast<size_t>(w.blocks), 0.0f);
  for (int64_t g = 0; g < groups; g++) {
    float v[8];
    for (int j = 0; j < 8; j++) v[j] = 8 * g + j < k ? x[8 * g + j] : 0.0f;
    float* lo = out.halves.data() + g * 32;
    float* hi = lo + 16;
    BcqHalfTable(v, lo);
    BcqHalfTable(v + 4, hi);
    float* t = out.table.data() + g * kBcqTable;
    for (int s = 0; s < kBcqTable; s++) t[s] = lo[s & 15] + hi[s >> 4];
    float sum = BcqGroupSum(v);
    float& block_sum = out.block_sums[static_cast<size_t>(g / gpb)];
    block_sum = block_sum + sum;
  }
}

void BcqScalar(const BcqWeights& w, const BcqTables& t, const float* bias, float* y, int64_t tile_begin,
               int64_t tile_end) {
  const int64_t gpb = w.GroupsPerBlock();
  for (int64_t tile = tile_begin; tile < tile_end; tile++) {
    const uint8_t* data = w.Tile(tile);
    for (int lane = 0; lane < kBcqLanes; lane++) {
      int64_t col = tile * kBcqLanes + lane;
      if (col >= w.n) break;
      float acc = 0.0f;
      for (int64_t b = 0; b < w.blocks; b++) {
        int64_t g0 = b * gpb, g1 = g0 + gpb < w.groups ? g0 + gpb : w.groups;
        const float* alpha = w.alphas.data() + ((tile * w.blocks + b) * w.planes) * kBcqLanes + lane;
        for (int64_t i = 0; i < w.planes; i++) {
          float s = 0.0f;
          for (int64_t g = g0; g < g1; g++) s = s + t.table[g * kBcqTable + data[(g * w.planes + i) * kBcqLanes + lane]];
          acc = std::fma(alpha[i * kBcqLanes], s, acc);
        }
        if (w.has_offsets) acc = std::fma(w.offsets[(tile * w.blocks + b) * kBcqLanes + lane], t.block_sums[b], acc);
      }
      y[col] = bias != nullptr ? acc + bias[col] : acc;
    }
  }
}

}  // namespace onnxquant
