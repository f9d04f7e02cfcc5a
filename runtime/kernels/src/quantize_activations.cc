#include <cmath>

#include "packed_weights.h"

namespace onnxquant {

// Round half to even without libm: adding and subtracting 1.5·2^23 rounds in the FPU's default mode, exactly what
// nearbyintf and the SIMD conversions do, for |x| < 2^22 (here |x| <= 127 plus rounding).
static inline float RoundHalfEven(float x) {
  const float m = 12582912.0f;  // without -ffast-math the compiler keeps (x + m) - m as written
  return (x + m) - m;
}

void QuantizeRow(const float* a, int64_t k, int64_t block, QuantizedActivations& out, int64_t row) {
  float amax = 0.0f;
  for (int64_t i = 0; i < k; i++) {
    float v = std::fabs(a[i]);
    amax = v > amax ? v : amax;
  }
  // A row of zeros (or of non-finite values only) gets scale 0: its codes are 0 and so is its product.
  bool usable = amax > 0.0f && std::isfinite(amax);
  float inv = usable ? 127.0f / amax : 0.0f;
  out.scale[row] = usable ? amax / 127.0f : 0.0f;
  int8_t* q = out.q.data() + row * out.padded_k;
  int32_t* sums = out.sums.data() + row * out.blocks;
  for (int64_t b = 0; b < out.blocks; b++) {
    int32_t sum = 0;
    int64_t end = (b + 1) * block;
    for (int64_t i = b * block; i < end; i++) {
      int32_t v = 0;
      if (i < k) {
        float r = RoundHalfEven(a[i] * inv);
        r = r > 127.0f ? 127.0f : (r < -127.0f ? -127.0f : r);
        if (!(r == r)) r = 0.0f;  // NaN inside a finite row counts as 0
        v = static_cast<int32_t>(r);
      }
      q[i] = static_cast<int8_t>(v);
      sum += v;
    }
    sums[b] = sum;
  }
}

}  // namespace onnxquant
