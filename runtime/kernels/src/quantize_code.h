// Per-token int8 quantization of one activation, shared by the CPU library (QuantizeRow) and the CUDA kernels:
// q = round_half_even(a · 127/amax) clamped to [-127, 127], scale = amax/127; a row whose amax is 0 or not finite
// gets scale 0 and codes 0, and a NaN inside a finite row counts as 0.
#pragma once
#include <cstdint>

#include "host_device.h"

namespace onnxquant {

// Round half to even without libm: adding and subtracting 1.5·2^23 rounds in the default rounding mode, exactly what
// nearbyintf and the SIMD conversions do, for |x| < 2^22 (here |x| <= 127 plus rounding). Without fast-math (and
// on the GPU with the _rn intrinsics) the compiler keeps (x + m) - m as written and never fuses a·inv + m.
ONNXQUANT_HD float RoundHalfEven(float x) {
  const float m = 12582912.0f;
  return AddRn(AddRn(x, m), -m);
}

// From a row's largest magnitude: *inv multiplies an activation into code units, *scale is the row's scale.
ONNXQUANT_HD void ActivationScale(float amax, float* inv, float* scale) {
  bool usable = amax > 0.0f && amax <= 3.402823466e38f;  // finite and positive (false for NaN)
  *inv = usable ? 127.0f / amax : 0.0f;
  *scale = usable ? amax / 127.0f : 0.0f;
}

ONNXQUANT_HD int32_t QuantizeCode(float a, float inv) {
  float r = RoundHalfEven(MulRn(a, inv));
  r = r > 127.0f ? 127.0f : (r < -127.0f ? -127.0f : r);
  if (!(r == r)) r = 0.0f;
  return static_cast<int32_t>(r);
}

}  // namespace onnxquant
