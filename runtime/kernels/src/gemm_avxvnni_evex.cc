// The AVX-VNNI path compiled with the EVEX encoding of 256-bit vpdpbusd (AVX-512 VNNI + VL): same code and results
// as gemm_avxvnni.cc; runs the "avxvnni" path on AVX-512 CPUs that lack the VEX form (e.g. Zen 4, Ice Lake).
#define ONNXQUANT_VNNI_EVEX
#include "gemm_avxvnni.cc"
