#include <cmath>

#include "packed_weights.h"
#include "quantize_code.h"

namespace onnxquant {

void QuantizeRow(const float* a, int64_t k, int64_t block, QuantizedActivations& out, int64_t row) {
  float amax = 0.0f;
  for (int64_t i = 0; i < k; i++) {
    float v = std::fabs(a[i]);
    amax = v > amax ? v : amax;
  }
  float inv;
  ActivationScale(amax, &inv, &out.scale[row]);
  int8_t* q = out.q.data() + row * out.padded_k;
  int32_t* sums = out.sums.data() + row * out.blocks;
  for (int64_t b = 0; b < out.blocks; b++) {
    int32_t sum = 0;
    int64_t end = (b + 1) * block;
    for (int64_t i = b * block; i < end; i++) {
      int32_t v = i < k ? QuantizeCode(a[i], inv) : 0;
      q[i] = static_cast<int8_t>(v);
      sum += v;
    }
    sums[b] = sum;
  }
}

}  // namespace onnxquant
