// BcqMatMul's AVX2 path: 8 columns per register (half a tile), one vpgatherdd-style float gather per (plane, group)
// with the columns' sign bytes as indices; the same float operations per column as the scalar path.
#include <immintrin.h>

#include "bcq_weights.h"

namespace onnxquant {
namespace {

template <int P>
void HalfTile(const BcqWeights& w, const BcqTables& t, const float* bias, float* y, int64_t tile, int half) {
  const int64_t gpb = w.GroupsPerBlock();
  const uint8_t* data = w.Tile(tile) + half * 8;
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < w.blocks; b++) {
    int64_t g0 = b * gpb, g1 = g0 + gpb < w.groups ? g0 + gpb : w.groups;
    __m256 s[P];
    for (int i = 0; i < P; i++) s[i] = _mm256_setzero_ps();
    for (int64_t g = g0; g < g1; g++) {
      const float* table = t.table.data() + g * kBcqTable;
      const uint8_t* bytes = data + g * P * kBcqLanes;
      for (int i = 0; i < P; i++) {
        __m256i idx = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(bytes + i * kBcqLanes)));
        s[i] = _mm256_add_ps(s[i], _mm256_i32gather_ps(table, idx, 4));
      }
    }
    const float* alpha = w.alphas.data() + (tile * w.blocks + b) * P * kBcqLanes + half * 8;
    for (int i = 0; i < P; i++) acc = _mm256_fmadd_ps(_mm256_loadu_ps(alpha + i * kBcqLanes), s[i], acc);
    if (w.has_offsets) {
      __m256 c = _mm256_loadu_ps(w.offsets.data() + (tile * w.blocks + b) * kBcqLanes + half * 8);
      acc = _mm256_fmadd_ps(c, _mm256_set1_ps(t.block_sums[b]), acc);
    }
  }
  float out[8];
  _mm256_storeu_ps(out, acc);
  int64_t col0 = tile * kBcqLanes + half * 8;
  for (int lane = 0; lane < 8 && col0 + lane < w.n; lane++)
    y[col0 + lane] = bias != nullptr ? out[lane] + bias[col0 + lane] : out[lane];
}

template <int P>
void Tiles(const BcqWeights& w, const BcqTables& t, const float* bias, float* y, int64_t tile_begin, int64_t tile_end) {
  for (int64_t tile = tile_begin; tile < tile_end; tile++) {
    HalfTile<P>(w, t, bias, y, tile, 0);
    if (tile * kBcqLanes + 8 < w.n) HalfTile<P>(w, t, bias, y, tile, 1);
  }
}

}  // namespace

void BcqAvx2(const BcqWeights& w, const BcqTables& t, const float* bias, float* y, int64_t tile_begin, int64_t tile_end) {
  switch (w.planes) {
    case 1: Tiles<1>(w, t, bias, y, tile_begin, tile_end); break;
    case 2: Tiles<2>(w, t, bias, y, tile_begin, tile_end); break;
    case 3: Tiles<3>(w, t, bias, y, tile_begin, tile_end); break;
    default: Tiles<4>(w, t, bias, y, tile_begin, tile_end); break;
  }
}

}  // namespace onnxquant
