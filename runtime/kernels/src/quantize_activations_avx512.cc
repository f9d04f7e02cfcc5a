// QuantizeRow with AVX-512 (the per-token quantization in front of every MatMulW4A8/W8A8 GEMM, one pass for the
// largest magnitude and one for the codes): the same float operations as quantize_code.h in each lane — max of
// magnitudes (a NaN never wins, as in the scalar loop), a·inv, the ±1.5·2^23 rounding, the clamp, NaN → 0 — so the
// codes, sums and scale are the scalar path's bit for bit.
#include <immintrin.h>

#include "packed_weights.h"
#include "quantize_code.h"

namespace onnxquant {

void QuantizeRowAvx512(const float* a, int64_t k, int64_t block, QuantizedActivations& out, int64_t row) {
  __m512 vmax = _mm512_setzero_ps();
  int64_t i = 0;
  // max_ps returns its second operand when either is NaN: a NaN activation leaves the running maximum as it was.
  for (; i + 16 <= k; i += 16) vmax = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(a + i)), vmax);
  if (i < k) {
    __mmask16 tail = static_cast<__mmask16>((1u << (k - i)) - 1u);
    vmax = _mm512_max_ps(_mm512_abs_ps(_mm512_maskz_loadu_ps(tail, a + i)), vmax);
  }
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, vmax);
  float amax = 0.0f;
  for (float v : lanes) amax = v > amax ? v : amax;
  float inv;
  ActivationScale(amax, &inv, &out.scale[row]);

  const __m512 vinv = _mm512_set1_ps(inv), round = _mm512_set1_ps(12582912.0f), neg_round = _mm512_set1_ps(-12582912.0f);
  const __m512 hi = _mm512_set1_ps(127.0f), lo = _mm512_set1_ps(-127.0f);
  int8_t* q = out.q.data() + row * out.padded_k;
  int32_t* sums = out.sums.data() + row * out.blocks;
  for (int64_t b = 0; b < out.blocks; b++) {
    __m512i sum = _mm512_setzero_si512();
    int64_t end = (b + 1) * block;
    for (int64_t j = b * block; j < end; j += 16) {
      int64_t stored = end - j < 16 ? end - j : 16, loaded = k - j < stored ? (k - j > 0 ? k - j : 0) : stored;
      __mmask16 store_mask = static_cast<__mmask16>((1u << stored) - 1u), load_mask = static_cast<__mmask16>((1u << loaded) - 1u);
      __m512 x = _mm512_maskz_loadu_ps(load_mask, a + j);  // padding past K quantizes to 0
      __m512 r = _mm512_add_ps(_mm512_add_ps(_mm512_mul_ps(x, vinv), round), neg_round);
      __mmask16 ordered = _mm512_cmp_ps_mask(r, r, _CMP_ORD_Q);
      r = _mm512_maskz_mov_ps(ordered, _mm512_max_ps(_mm512_min_ps(r, hi), lo));
      __m512i v = _mm512_cvtps_epi32(r);
      sum = _mm512_add_epi32(sum, v);
      _mm_mask_storeu_epi8(q + j, store_mask, _mm512_cvtepi32_epi8(v));
    }
    alignas(64) int32_t parts[16];
    _mm512_store_si512(parts, sum);
    int32_t total = 0;
    for (int32_t v : parts) total += v;
    sums[b] = total;
  }
}

}  // namespace onnxquant
