// Log2AttnMatMul's inner loops on each instruction set: the log√2 codes (a count of thresholds, as the standard-ONNX
// export's binary search finds it) and the code-indexed integer accumulation that replaces P·V's multiplications.
// Integer only: every path yields the same bits. The SIMD functions carry target attributes, so this file needs no
// special compile flags and the library still loads on CPUs without AVX2/AVX-512 (they run only where dispatched).
#include <immintrin.h>

#include <cstring>

#include "log2_attn_rows.h"

namespace onnxquant {
namespace {

void CodesScalar(const float* a, int64_t count, const float* thresholds, int levels, uint16_t* codes) {
  for (int64_t j = 0; j < count; j++) {
    int q = 0;
    for (int k = 0; k < levels; k++) q += a[j] <= thresholds[k] ? 1 : 0;
    codes[j] = static_cast<uint16_t>(q);
  }
}

void AccumulateScalar(const uint16_t* codes, int64_t t, const int32_t* v, int64_t n, int levels, int32_t* acc, uint8_t* used) {
  for (int64_t j = 0; j < t; j++) {
    int q = codes[j];
    if (q >= levels) continue;
    int32_t* row = acc + static_cast<int64_t>(q) * n;
    const int32_t* vj = v + j * n;
    if (!used[q]) {
      used[q] = 1;
      for (int64_t c = 0; c < n; c++) row[c] = vj[c];
      continue;
    }
    for (int64_t c = 0; c < n; c++) row[c] += vj[c];
  }
}

#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) void CodesAvx2(const float* a, int64_t count, const float* thresholds, int levels,
                                                      uint16_t* codes) {
  int64_t j = 0;
  for (; j + 8 <= count; j += 8) {
    __m256 x = _mm256_loadu_ps(a + j);
    __m256i q = _mm256_setzero_si256();
    for (int k = 0; k < levels; k++)  // a lane that passes the comparison is all ones (−1): subtracting counts it
      q = _mm256_sub_epi32(q, _mm256_castps_si256(_mm256_cmp_ps(x, _mm256_set1_ps(thresholds[k]), _CMP_LE_OQ)));
    alignas(32) int32_t lanes[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), q);
    for (int i = 0; i < 8; i++) codes[j + i] = static_cast<uint16_t>(lanes[i]);
  }
  CodesScalar(a + j, count - j, thresholds, levels, codes + j);
}

__attribute__((target("avx2,fma"))) void AccumulateAvx2(const uint16_t* codes, int64_t t, const int32_t* v, int64_t n,
                                                           int levels, int32_t* acc, uint8_t* used) {
  for (int64_t j = 0; j < t; j++) {
    int q = codes[j];
    if (q >= levels) continue;
    int32_t* row = acc + static_cast<int64_t>(q) * n;
    const int32_t* vj = v + j * n;
    if (!used[q]) {  // the first row of a code initializes its accumulator: no clearing of 2^b rows per output row
      used[q] = 1;
      std::memcpy(row, vj, static_cast<size_t>(n) * sizeof(int32_t));
      continue;
    }
    int64_t c = 0;
    for (; c + 8 <= n; c += 8) {
      __m256i r = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + c));
      r = _mm256_add_epi32(r, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(vj + c)));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(row + c), r);
    }
    for (; c < n; c++) row[c] += vj[c];
  }
}

__attribute__((target("avx512f,avx512bw,avx512vl"))) void CodesAvx512(const float* a, int64_t count,
                                                                        const float* thresholds, int levels,
                                                                        uint16_t* codes) {
  const __m512i one = _mm512_set1_epi32(1);
  for (int64_t j = 0; j < count; j += 16) {
    __mmask16 live = count - j >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << (count - j)) - 1);
    __m512 x = _mm512_maskz_loadu_ps(live, a + j);
    __m512i q = _mm512_setzero_si512();
    for (int k = 0; k < levels; k++)
      q = _mm512_mask_add_epi32(q, _mm512_cmp_ps_mask(x, _mm512_set1_ps(thresholds[k]), _CMP_LE_OQ), q, one);
    _mm512_mask_cvtepi32_storeu_epi16(codes + j, live, q);
  }
}

__attribute__((target("avx512f,avx512bw,avx512vl"))) void AccumulateAvx512(const uint16_t* codes, int64_t t,
                                                                             const int32_t* v, int64_t n, int levels,
                                                                             int32_t* acc, uint8_t* used) {
  for (int64_t j = 0; j < t; j++) {
    int q = codes[j];
    if (q >= levels) continue;
    int32_t* row = acc + static_cast<int64_t>(q) * n;
    const int32_t* vj = v + j * n;
    if (!used[q]) {
      used[q] = 1;
      std::memcpy(row, vj, static_cast<size_t>(n) * sizeof(int32_t));
      continue;
    }
    for (int64_t c = 0; c < n; c += 16) {
      __mmask16 live = n - c >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << (n - c)) - 1);
      __m512i r = _mm512_maskz_loadu_epi32(live, row + c);
      r = _mm512_add_epi32(r, _mm512_maskz_loadu_epi32(live, vj + c));
      _mm512_mask_storeu_epi32(row + c, live, r);
    }
  }
}
#endif

}  // namespace

void Log2Codes(Isa isa, const float* a, int64_t count, const float* thresholds, int levels, uint16_t* codes) {
#if defined(__x86_64__)
  if (isa == Isa::Avx512Vnni) return CodesAvx512(a, count, thresholds, levels, codes);
  if (isa == Isa::Avx2 || isa == Isa::AvxVnni) return CodesAvx2(a, count, thresholds, levels, codes);
#endif
  (void)isa;
  CodesScalar(a, count, thresholds, levels, codes);
}

void Log2Accumulate(Isa isa, const uint16_t* codes, int64_t t, const int32_t* v, int64_t n, int levels, int32_t* acc, uint8_t* used) {
#if defined(__x86_64__)
  if (isa == Isa::Avx512Vnni) return AccumulateAvx512(codes, t, v, n, levels, acc, used);
  if (isa == Isa::Avx2 || isa == Isa::AvxVnni) return AccumulateAvx2(codes, t, v, n, levels, acc, used);
#endif
  (void)isa;
  AccumulateScalar(codes, t, v, n, levels, acc, used);
}

}  // namespace onnxquant
