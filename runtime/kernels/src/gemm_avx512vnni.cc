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

// MR rows by 16 columns. With a uniform zero point (symmetric weights) each row's accumulator starts at −z·Σq of the
// block instead of 0, which gives the same exact int32 as subtracting it afterwards and leaves the block epilogue one
// conversion and one fused multiply-add per row.
template <int MR, bool NIBBLES, bool UNIFORM>
void Tile(const PackedWeights& w, const QuantizedActivations& a, const float* bias, float* y, int64_t tile, int64_t row0) {
  __m512 facc[MR];
  _Pragma("GCC unroll 8")
  for (int r = 0; r < MR; r++) facc[r] = _mm512_setzero_ps();
  const uint8_t* wp = w.data.data() + tile * w.TileBytes();
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  const int64_t groups = w.block / kGroup;
  const int32_t* sums = a.sums.data() + row0 * a.blocks;
  for (int64_t b = 0; b < w.blocks; b++) {
    __m512i acc[MR];
    _Pragma("GCC unroll 8")
    for (int r = 0; r < MR; r++)
      acc[r] = UNIFORM ? _mm512_set1_epi32(-w.uniform_zero * sums[r * a.blocks + b]) : _mm512_setzero_si512();
    const int8_t* ap[MR];
    _Pragma("GCC unroll 8")
    for (int r = 0; r < MR; r++) ap[r] = a.q.data() + (row0 + r) * a.padded_k + b * w.block;
    if (NIBBLES) {
      for (int64_t g = 0; g < groups; g += 2, wp += 64) {
        __m512i x = _mm512_loadu_si512(wp);
        __m512i lo = _mm512_and_si512(x, low4);
        __m512i hi = _mm512_and_si512(_mm512_srli_epi16(x, 4), low4);
        _Pragma("GCC unroll 8")
        for (int r = 0; r < MR; r++) {
          acc[r] = _mm512_dpbusd_epi32(acc[r], lo, Broadcast4(ap[r] + g * 4));
          acc[r] = _mm512_dpbusd_epi32(acc[r], hi, Broadcast4(ap[r] + g * 4 + 4));
        }
      }
    } else {
      for (int64_t g = 0; g < groups; g++, wp += 64) {
        __m512i x = _mm512_loadu_si512(wp);
        _Pragma("GCC unroll 8")
        for (int r = 0; r < MR; r++) acc[r] = _mm512_dpbusd_epi32(acc[r], x, Broadcast4(ap[r] + g * 4));
      }
    }
    size_t sb = static_cast<size_t>((tile * w.blocks + b) * kLanes);
    __m512 scale = _mm512_loadu_ps(w.scales.data() + sb);
    if (UNIFORM) {
      _Pragma("GCC unroll 8")
      for (int r = 0; r < MR; r++) facc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[r]), scale, facc[r]);
    } else {
      __m512i zero = _mm512_loadu_si512(w.zeros.data() + sb);
      _Pragma("GCC unroll 8")
      for (int r = 0; r < MR; r++) {
        __m512i sum = _mm512_set1_epi32(sums[r * a.blocks + b]);
        __m512i dot = _mm512_sub_epi32(acc[r], _mm512_mullo_epi32(zero, sum));
        facc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), scale, facc[r]);
      }
    }
  }
  int64_t col0 = tile * kLanes;
  int64_t valid = w.n - col0 < kLanes ? w.n - col0 : kLanes;
  __mmask16 mask = static_cast<__mmask16>((1u << valid) - 1u);
  __m512 bv = bias != nullptr ? _mm512_maskz_loadu_ps(mask, bias + col0) : _mm512_setzero_ps();
  _Pragma("GCC unroll 8")
  for (int r = 0; r < MR; r++) {
    __m512 out = _mm512_fmadd_ps(facc[r], _mm512_set1_ps(a.scale[row0 + r]), bv);
    _mm512_mask_storeu_ps(y + (row0 + r) * w.n + col0, mask, out);
  }
}

// One token (decode, M = 1): NT column tiles at once, each with two accumulators, so 2·NT independent vpdpbusd chains
// hide the instruction's latency while the weights stream from memory once; the tiles share the activation broadcasts
// and the block sums. Integer sums are exact in any order and the float epilogue is Tile's, so the bits are the same.
template <int NT, bool NIBBLES, bool UNIFORM>
void TilesOneRow(const PackedWeights& w, const QuantizedActivations& a, const float* bias, float* y, int64_t tile0,
                 int64_t row) {
  __m512 facc[NT];
  const uint8_t* wp[NT];
  _Pragma("GCC unroll 4")
  for (int t = 0; t < NT; t++) {
    facc[t] = _mm512_setzero_ps();
    wp[t] = w.data.data() + (tile0 + t) * w.TileBytes();
  }
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  const int64_t groups = w.block / kGroup;
  const int8_t* arow = a.q.data() + row * a.padded_k;
  for (int64_t b = 0; b < w.blocks; b++) {
    __m512i acc0[NT], acc1[NT];
    // As in Tile: with a uniform zero point the sum starts at −z·Σq of the block.
    __m512i start = UNIFORM ? _mm512_set1_epi32(-w.uniform_zero * a.sums[row * a.blocks + b]) : _mm512_setzero_si512();
    _Pragma("GCC unroll 4")
    for (int t = 0; t < NT; t++) {
      acc0[t] = start;
      acc1[t] = _mm512_setzero_si512();
    }
    const int8_t* ap = arow + b * w.block;
    if (NIBBLES) {
      for (int64_t g = 0; g < groups; g += 2) {
        __m512i a0 = Broadcast4(ap + g * 4), a1 = Broadcast4(ap + g * 4 + 4);
        _Pragma("GCC unroll 4")
        for (int t = 0; t < NT; t++) {
          __m512i x = _mm512_loadu_si512(wp[t]);
          wp[t] += 64;
          acc0[t] = _mm512_dpbusd_epi32(acc0[t], _mm512_and_si512(x, low4), a0);
          acc1[t] = _mm512_dpbusd_epi32(acc1[t], _mm512_and_si512(_mm512_srli_epi16(x, 4), low4), a1);
        }
      }
    } else {
      int64_t g = 0;
      for (; g + 2 <= groups; g += 2) {
        __m512i a0 = Broadcast4(ap + g * 4), a1 = Broadcast4(ap + g * 4 + 4);
        _Pragma("GCC unroll 4")
        for (int t = 0; t < NT; t++) {
          acc0[t] = _mm512_dpbusd_epi32(acc0[t], _mm512_loadu_si512(wp[t]), a0);
          acc1[t] = _mm512_dpbusd_epi32(acc1[t], _mm512_loadu_si512(wp[t] + 64), a1);
          wp[t] += 128;
        }
      }
      if (g < groups) {
        __m512i a0 = Broadcast4(ap + g * 4);
        _Pragma("GCC unroll 4")
        for (int t = 0; t < NT; t++) {
          acc0[t] = _mm512_dpbusd_epi32(acc0[t], _mm512_loadu_si512(wp[t]), a0);
          wp[t] += 64;
        }
      }
    }
    __m512i sum = _mm512_set1_epi32(a.sums[row * a.blocks + b]);
    _Pragma("GCC unroll 4")
    for (int t = 0; t < NT; t++) {
      size_t sb = static_cast<size_t>(((tile0 + t) * w.blocks + b) * kLanes);
      __m512 scale = _mm512_loadu_ps(w.scales.data() + sb);
      __m512i dot = _mm512_add_epi32(acc0[t], acc1[t]);
      if (!UNIFORM) dot = _mm512_sub_epi32(dot, _mm512_mullo_epi32(_mm512_loadu_si512(w.zeros.data() + sb), sum));
      facc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), scale, facc[t]);
    }
  }
  __m512 s = _mm512_set1_ps(a.scale[row]);
  _Pragma("GCC unroll 4")
  for (int t = 0; t < NT; t++) {
    int64_t col0 = (tile0 + t) * kLanes;
    int64_t valid = w.n - col0 < kLanes ? w.n - col0 : kLanes;
    __mmask16 mask = static_cast<__mmask16>((1u << valid) - 1u);
    __m512 bv = bias != nullptr ? _mm512_maskz_loadu_ps(mask, bias + col0) : _mm512_setzero_ps();
    _mm512_mask_storeu_ps(y + row * w.n + col0, mask, _mm512_fmadd_ps(facc[t], s, bv));
  }
}

template <bool NIBBLES, bool UNIFORM>
void RunOneRow(const PackedWeights& w, const QuantizedActivations& a, const float* bias, float* y, int64_t t0, int64_t t1) {
  int64_t t = t0;
  for (; t + 4 <= t1; t += 4) TilesOneRow<4, NIBBLES, UNIFORM>(w, a, bias, y, t, 0);
  for (; t < t1; t++) TilesOneRow<1, NIBBLES, UNIFORM>(w, a, bias, y, t, 0);
}

template <bool NIBBLES, bool UNIFORM>
void Run(const PackedWeights& w, const QuantizedActivations& a, const float* bias, float* y, int64_t t0, int64_t t1) {
  // Rows in chunks so a chunk of activations and the tiles of this task stay in L2 together; 8 rows per tile pass
  // (each weight load and nibble split serves 8 rows), then 4, then what is left.
  constexpr int64_t kRowChunk = 64;
  for (int64_t r0 = 0; r0 < a.rows; r0 += kRowChunk) {
    int64_t r1 = r0 + kRowChunk < a.rows ? r0 + kRowChunk : a.rows;
    for (int64_t t = t0; t < t1; t++) {
      int64_t r = r0;
      for (; r + 8 <= r1; r += 8) Tile<8, NIBBLES, UNIFORM>(w, a, bias, y, t, r);
      if (r + 4 <= r1) {
        Tile<4, NIBBLES, UNIFORM>(w, a, bias, y, t, r);
        r += 4;
      }
      switch (r1 - r) {
        case 3: Tile<3, NIBBLES, UNIFORM>(w, a, bias, y, t, r); break;
        case 2: Tile<2, NIBBLES, UNIFORM>(w, a, bias, y, t, r); break;
        case 1: Tile<1, NIBBLES, UNIFORM>(w, a, bias, y, t, r); break;
        default: break;
      }
    }
  }
}

}  // namespace

void GemmAvx512Vnni(const PackedWeights& w, const QuantizedActivations& a, const float* bias, float* y, int64_t t0, int64_t t1) {
  bool uniform = w.uniform_zero >= 0;
  if (a.rows == 1) {
    if (w.nibbles) uniform ? RunOneRow<true, true>(w, a, bias, y, t0, t1) : RunOneRow<true, false>(w, a, bias, y, t0, t1);
    else uniform ? RunOneRow<false, true>(w, a, bias, y, t0, t1) : RunOneRow<false, false>(w, a, bias, y, t0, t1);
    return;
  }
  if (w.nibbles) uniform ? Run<true, true>(w, a, bias, y, t0, t1) : Run<true, false>(w, a, bias, y, t0, t1);
  else uniform ? Run<false, true>(w, a, bias, y, t0, t1) : Run<false, false>(w, a, bias, y, t0, t1);
}

}  // namespace onnxquant
