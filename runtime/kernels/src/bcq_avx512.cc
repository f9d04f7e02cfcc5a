// BcqMatMul's AVX-512 path: a tile of 16 columns per register; per group the two 16-entry half tables sit in two
// registers and vpermps looks up 16 columns at once (low nibble of each sign byte in L, high nibble in H), their sum
// being exactly the scalar path's T_g[byte]; the same float operations per column as the scalar path.
#include <immintrin.h>

#include "bcq_weights.h"

namespace onnxquant {
namespace {

template <int P>
void Tiles(const BcqWeights& w, const BcqTables& t, const float* bias, float* y, int64_t tile_begin, int64_t tile_end) {
  const int64_t gpb = w.GroupsPerBlock();
  for (int64_t tile = tile_begin; tile < tile_end; tile++) {
    const uint8_t* data = w.Tile(tile);
    __m512 acc = _mm512_setzero_ps();
    for (int64_t b = 0; b < w.blocks; b++) {
      int64_t g0 = b * gpb, g1 = g0 + gpb < w.groups ? g0 + gpb : w.groups;
      __m512 s[P];
      for (int i = 0; i < P; i++) s[i] = _mm512_setzero_ps();
      for (int64_t g = g0; g < g1; g++) {
        const __m512 lo = _mm512_loadu_ps(t.halves.data() + g * 32);
        const __m512 hi = _mm512_loadu_ps(t.halves.data() + g * 32 + 16);
        const uint8_t* bytes = data + g * P * kBcqLanes;
        for (int i = 0; i < P; i++) {
          // vpermps reads only the low 4 bits of each index.
          __m512i idx = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(bytes + i * kBcqLanes)));
          __m512 v = _mm512_add_ps(_mm512_permutexvar_ps(idx, lo), _mm512_permutexvar_ps(_mm512_srli_epi32(idx, 4), hi));
          s[i] = _mm512_add_ps(s[i], v);
        }
      }
      const float* alpha = w.alphas.data() + (tile * w.blocks + b) * P * kBcqLanes;
      for (int i = 0; i < P; i++) acc = _mm512_fmadd_ps(_mm512_loadu_ps(alpha + i * kBcqLanes), s[i], acc);
      if (w.has_offsets) {
        __m512 c = _mm512_loadu_ps(w.offsets.data() + (tile * w.blocks + b) * kBcqLanes);
        acc = _mm512_fmadd_ps(c, _mm512_set1_ps(t.block_sums[b]), acc);
      }
    }
    int64_t col0 = tile * kBcqLanes;
    int64_t live = w.n - col0 < kBcqLanes ? w.n - col0 : kBcqLanes;
    __mmask16 mask = static_cast<__mmask16>((1u << live) - 1u);
    if (bias != nullptr) acc = _mm512_add_ps(acc, _mm512_maskz_loadu_ps(mask, bias + col0));
    _mm512_mask_storeu_ps(y + col0, mask, acc);
  }
}

}  // namespace

void BcqAvx512(const BcqWeights& w, const BcqTables& t, const float* bias, float* y, int64_t tile_begin,
               int64_t tile_end) {
  switch (w.planes) {
    case 1: Tiles<1>(w, t, bias, y, tile_begin, tile_end); break;
    case 2: Tiles<2>(w, t, bias, y, tile_begin, tile_end); break;
    case 3: Tiles<3>(w, t, bias, y, tile_begin, tile_end); break;
    default: Tiles<4>(w, t, bias, y, tile_begin, tile_end); break;
  }
}

}  // namespace onnxquant
