// AVX-VNNI path (256-bit vpdpbusd, VEX-encoded: Alder Lake and later Intel cores, Zen 5): one instruction multiplies
// unsigned weight bytes by signed activation bytes and adds the four products to an int32 lane, without the int16
// saturation that makes the AVX2 path split 8-bit codes into nibbles. gemm_avxvnni_evex.cc compiles the same code
// with the EVEX form that AVX-512 VNNI + VL CPUs have, which is how this path is tested on a CPU without AVX-VNNI.
#include <immintrin.h>

#ifdef ONNXQUANT_VNNI_EVEX
#define ONNXQUANT_DPBUSD _mm256_dpbusd_epi32
#define ONNXQUANT_GEMM256_NAME GemmAvxVnniEvex
#else
#define ONNXQUANT_DPBUSD _mm256_dpbusd_avx_epi32
#define ONNXQUANT_GEMM256_NAME GemmAvxVnni
#endif

namespace onnxquant {
namespace {

inline __m256i DotNibbles(__m256i acc, __m256i lo, __m256i hi, __m256i a0, __m256i a1) {
  return ONNXQUANT_DPBUSD(ONNXQUANT_DPBUSD(acc, lo, a0), hi, a1);
}

inline __m256i DotBytes(__m256i acc, __m256i x, __m256i a) { return ONNXQUANT_DPBUSD(acc, x, a); }

}  // namespace
}  // namespace onnxquant

#include "gemm_avx256.inc"
