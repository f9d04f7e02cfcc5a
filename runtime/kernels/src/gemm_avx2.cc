// AVX2 path (no VNNI): vpmaddubsw multiplies unsigned 4-bit weight values by signed activation bytes into int16
// pairs and vpmaddwd adds the pairs into int32 lanes. 4-bit values keep every pair below 2·15·127, so nothing
// saturates; 8-bit codes are split into their two nibbles (code = 16·high + low) for the same reason.
#include <immintrin.h>

namespace onnxquant {
namespace {

inline __m256i DotNibbles(__m256i acc, __m256i lo, __m256i hi, __m256i a0, __m256i a1) {
  __m256i pairs = _mm256_add_epi16(_mm256_maddubs_epi16(lo, a0), _mm256_maddubs_epi16(hi, a1));
  return _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
}

inline __m256i DotBytes(__m256i acc, __m256i x, __m256i a) {
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  __m256i lo = _mm256_and_si256(x, low4);
  __m256i hi = _mm256_and_si256(_mm256_srli_epi16(x, 4), low4);
  return _mm256_add_epi32(acc, _mm256_add_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(lo, a), _mm256_set1_epi16(1)),
                                                _mm256_madd_epi16(_mm256_maddubs_epi16(hi, a), _mm256_set1_epi16(16))));
}

}  // namespace
}  // namespace onnxquant

#define ONNXQUANT_GEMM256_NAME GemmAvx2
#include "gemm_avx256.inc"
