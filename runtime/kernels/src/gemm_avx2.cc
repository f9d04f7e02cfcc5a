// AVX2 path (no VNNI): vpmaddubsw multiplies unsigned 4-bit weight values by signed activation bytes into int16
// pairs and vpmaddwd adds the pairs into int32 lanes. 4-bit values keep every pair below 2·15·127, so nothing
// saturates; 8-bit codes are split into their two nibbles (code = 16·high + low) for the same reason. The 16
// columns of a tile are two registers of 8 lanes.
#include <immintrin.h>

#include <cstring>

#include "packed_weights.h"

namespace onnxquant {
namespace {

inline __m256i Broadcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

template <int MR, bool NIBBLES>
void Tile(const PackedWeights& w, const QuantizedActivations& a, const float* bias, float* y, int64_t tile, int64_t row0) {
  __m256 facc[MR][2];
  _Pragma("GCC unroll 4")
  for (int r = 0; r < MR; r++) facc[r][0] = facc[r][1] = _mm256_setzero_ps();
  const uint8_t* wp = w.data.data() + tile * w.TileBytes();
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  const __m256i ones = _mm256_set1_epi16(1);
  const __m256i sixteen = _mm256_set1_epi16(16);
  const int64_t groups = w.block / kGroup;
  for (int64_t b = 0; b < w.blocks; b++) {
    __m256i acc[MR][2];
    _Pragma("GCC unroll 4")
    for (int r = 0; r < MR; r++) acc[r][0] = acc[r][1] = _mm256_setzero_si256();
    const int8_t* ap[MR];
    _Pragma("GCC unroll 4")
    for (int r = 0; r < MR; r++) ap[r] = a.q.data() + (row0 + r) * a.padded_k + b * w.block;
    if (NIBBLES) {
      for (int64_t g = 0; g < groups; g += 2, wp += 64) {
        _Pragma("GCC unroll 2")
        for (int h = 0; h < 2; h++) {
          __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wp + 32 * h));
          __m256i lo = _mm256_and_si256(x, low4);
          __m256i hi = _mm256_and_si256(_mm256_srli_epi16(x, 4), low4);
          _Pragma("GCC unroll 4")
          for (int r = 0; r < MR; r++) {
            __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(lo, Broadcast4(ap[r] + g * 4)),
                                         _mm256_maddubs_epi16(hi, Broadcast4(ap[r] + g * 4 + 4)));
            acc[r][h] = _mm256_add_epi32(acc[r][h], _mm256_madd_epi16(p, ones));
          }
        }
      }
    } else {
      for (int64_t g = 0; g < groups; g++, wp += 64) {
        _Pragma("GCC unroll 2")
        for (int h = 0; h < 2; h++) {
          __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wp + 32 * h));
          __m256i lo = _mm256_and_si256(x, low4);
          __m256i hi = _mm256_and_si256(_mm256_srli_epi16(x, 4), low4);
          _Pragma("GCC unroll 4")
          for (int r = 0; r < MR; r++) {
            __m256i av = Broadcast4(ap[r] + g * 4);
            acc[r][h] = _mm256_add_epi32(acc[r][h], _mm256_add_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(lo, av), ones),
                                                                     _mm256_madd_epi16(_mm256_maddubs_epi16(hi, av), sixteen)));
          }
        }
      }
    }
    size_t sb = static_cast<size_t>((tile * w.blocks + b) * kLanes);
    _Pragma("GCC unroll 2")
    for (int h = 0; h < 2; h++) {
      __m256i zero = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.zeros.data() + sb + 8 * h));
      __m256 scale = _mm256_loadu_ps(w.scales.data() + sb + 8 * h);
      _Pragma("GCC unroll 4")
      for (int r = 0; r < MR; r++) {
        __m256i sum = _mm256_set1_epi32(a.sums[(row0 + r) * a.blocks + b]);
        __m256i dot = _mm256_sub_epi32(acc[r][h], _mm256_mullo_epi32(zero, sum));
        facc[r][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), scale, facc[r][h]);
      }
    }
  }
  int64_t col0 = tile * kLanes;
  int64_t valid = w.n - col0 < kLanes ? w.n - col0 : kLanes;
  alignas(32) float bias16[kLanes] = {};
  if (bias != nullptr) std::memcpy(bias16, bias + col0, static_cast<size_t>(valid) * sizeof(float));
  _Pragma("GCC unroll 4")
  for (int r = 0; r < MR; r++) {
    alignas(32) float out[kLanes];
    __m256 s = _mm256_set1_ps(a.scale[row0 + r]);
    _Pragma("GCC unroll 2")
    for (int h = 0; h < 2; h++)
      _mm256_store_ps(out + 8 * h, _mm256_fmadd_ps(facc[r][h], s, _mm256_load_ps(bias16 + 8 * h)));
    std::memcpy(y + (row0 + r) * w.n + col0, out, static_cast<size_t>(valid) * sizeof(float));
  }
}

template <bool NIBBLES>
void Run(const PackedWeights& w, const QuantizedActivations& a, const float* bias, float* y, int64_t t0, int64_t t1) {
  constexpr int64_t kRowChunk = 64;
  for (int64_t r0 = 0; r0 < a.rows; r0 += kRowChunk) {
    int64_t r1 = r0 + kRowChunk < a.rows ? r0 + kRowChunk : a.rows;
    for (int64_t t = t0; t < t1; t++) {
      int64_t r = r0;
      for (; r + 2 <= r1; r += 2) Tile<2, NIBBLES>(w, a, bias, y, t, r);
      if (r < r1) Tile<1, NIBBLES>(w, a, bias, y, t, r);
    }
  }
}

}  // namespace

void GemmAvx2(const PackedWeights& w, const QuantizedActivations& a, const float* bias, float* y, int64_t t0, int64_t t1) {
  if (w.nibbles) Run<true>(w, a, bias, y, t0, t1);
  else Run<false>(w, a, bias, y, t0, t1);
}

}  // namespace onnxquant
