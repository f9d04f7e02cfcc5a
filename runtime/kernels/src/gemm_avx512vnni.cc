// AVX-512 VNNI path: 16 columns (one register of int32 lanes) by up to 4 rows; vpdpbusd multiplies the unsigned
// weight codes by 4 broadcast signed activation bytes and adds the 4 products into each lane, exactly in int32.
#include <immintrin.h>

#include <cstring>

#include "packed_weights.h"

namespace onnxquant {
namespace {

inline __m512i Broadcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

template <int MR, bool NIBBLES>
void Tile(const PackedWeights& w, const QuantizedActivations& a, const float* bias, float* y, int64_t tile, int64_t row0) {
  __m512 facc[MR];
  _Pragma("GCC unroll 4")
  for (int r = 0; r < MR; r++) facc[r] = _mm512_setzero_ps();
  const uint8_t* wp = w.data.data() + tile * w.TileBytes();
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  const int64_t groups = w.block / kGroup;
  for (int64_t b = 0; b < w.blocks; b++) {
    __m512i acc[MR];
    _Pragma("GCC unroll 4")
    for (int r = 0; r < MR; r++) acc[r] = _mm512_setzero_si512();
    const int8_t* ap[MR];
    _Pragma("GCC unroll 4")
    for (int r = 0; r < MR; r++) ap[r] = a.q.data() + (row0 + r) * a.padded_k + b * w.block;
    if (NIBBLES) {
      for (int64_t g = 0; g < groups; g += 2, wp += 64) {
        __m512i x = _mm512_loadu_si512(wp);
        __m512i lo = _mm512_and_si512(x, low4);
        __m512i hi = _mm512_and_si512(_mm512_srli_epi16(x, 4), low4);
        _Pragma("GCC unroll 4")
        for (int r = 0; r < MR; r++) {
          acc[r] = _mm512_dpbusd_epi32(acc[r], lo, Broadcast4(ap[r] + g * 4));
          acc[r] = _mm512_dpbusd_epi32(acc[r], hi, Broadcast4(ap[r] + g * 4 + 4));
        }
      }
    } else {
      for (int64_t g = 0; g < groups; g++, wp += 64) {
        __m512i x = _mm512_loadu_si512(wp);
        _Pragma("GCC unroll 4")
        for (int r = 0; r < MR; r++) acc[r] = _mm512_dpbusd_epi32(acc[r], x, Broadcast4(ap[r] + g * 4));
      }
    }
    size_t sb = static_cast<size_t>((tile * w.blocks + b) * kLanes);
    __m512i zero = _mm512_loadu_si512(w.zeros.data() + sb);
    __m512 scale = _mm512_loadu_ps(w.scales.data() + sb);
    _Pragma("GCC unroll 4")
    for (int r = 0; r < MR; r++) {
      __m512i sum = _mm512_set1_epi32(a.sums[(row0 + r) * a.blocks + b]);
      __m512i dot = _mm512_sub_epi32(acc[r], _mm512_mullo_epi32(zero, sum));
      facc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), scale, facc[r]);
    }
  }
  int64_t col0 = tile * kLanes;
  int64_t valid = w.n - col0 < kLanes ? w.n - col0 : kLanes;
  __mmask16 mask = static_cast<__mmask16>((1u << valid) - 1u);
  __m512 bv = bias != nullptr ? _mm512_maskz_loadu_ps(mask, bias + col0) : _mm512_setzero_ps();
  _Pragma("GCC unroll 4")
  for (int r = 0; r < MR; r++) {
    __m512 out = _mm512_fmadd_ps(facc[r], _mm512_set1_ps(a.scale[row0 + r]), bv);
    _mm512_mask_storeu_ps(y + (row0 + r) * w.n + col0, mask, out);
  }
}

template <bool NIBBLES>
void Run(const PackedWeights& w, const QuantizedActivations& a, const float* bias, float* y, int64_t t0, int64_t t1) {
  // Rows in chunks so a chunk of activations and the tiles of this task stay in L2 together.
  constexpr int64_t kRowChunk = 64;
  for (int64_t r0 = 0; r0 < a.rows; r0 += kRowChunk) {
    int64_t r1 = r0 + kRowChunk < a.rows ? r0 + kRowChunk : a.rows;
    for (int64_t t = t0; t < t1; t++) {
      int64_t r = r0;
      for (; r + 4 <= r1; r += 4) Tile<4, NIBBLES>(w, a, bias, y, t, r);
      switch (r1 - r) {
        case 3: Tile<3, NIBBLES>(w, a, bias, y, t, r); break;
        case 2: Tile<2, NIBBLES>(w, a, bias, y, t, r); break;
        case 1: Tile<1, NIBBLES>(w, a, bias, y, t, r); break;
        default: break;
      }
    }
  }
}

}  // namespace

void GemmAvx512Vnni(const PackedWeights& w, const QuantizedActivations& a, const float* bias, float* y, int64_t t0, int64_t t1) {
  if (w.nibbles) Run<true>(w, a, bias, y, t0, t1);
  else Run<false>(w, a, bias, y, t0, t1);
}

}  // namespace onnxquant
