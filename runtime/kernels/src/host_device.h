// Marks the few arithmetic helpers that the CPU library and the CUDA kernels (runtime/kernels/cuda) share, so both
// perform literally the same float operations: __host__ __device__ under nvcc, plain inline functions otherwise.
#pragma once

#if defined(__CUDACC__)
#define ONNXQUANT_HD __host__ __device__ __forceinline__
#else
#define ONNXQUANT_HD inline
#endif

namespace onnxquant {

// Rounded float and double operations that no compiler may contract into a fused multiply-add: on the GPU the
// __*_rn intrinsics (never fused, whatever --fmad says), on the CPU plain operators (the library is built with
// -ffp-contract=off). The shared helpers use them where a product meets a sum.
ONNXQUANT_HD float MulRn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
ONNXQUANT_HD float AddRn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}
ONNXQUANT_HD double MulRn(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dmul_rn(a, b);
#else
  return a * b;
#endif
}
ONNXQUANT_HD double AddRn(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dadd_rn(a, b);
#else
  return a + b;
#endif
}

}  // namespace onnxquant
