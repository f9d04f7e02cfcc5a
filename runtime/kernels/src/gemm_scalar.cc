// The portable path and the reference every SIMD path must match bit for bit.
#include <cmath>

#include "packed_weights.h"

namespace onnxquant {

void GemmScalar(const PackedWeights& w, const QuantizedActivations& a, const float* bias, float* y, int64_t tile_begin,
                int64_t tile_end) {
  for (int64_t col = tile_begin * kLanes; col < tile_end * kLanes && col < w.n; col++) {
    int64_t tile = col / kLanes, lane = col % kLanes;
    for (int64_t row = 0; row < a.rows; row++) {
      const int8_t* q = a.q.data() + row * a.padded_k;
      const int32_t* sums = a.sums.data() + row * a.blocks;
      float acc = 0.0f;
      for (int64_t b = 0; b < w.blocks; b++) {
        int32_t dot = 0;
        for (int64_t kk = b * w.block; kk < (b + 1) * w.block; kk++) dot += q[kk] * w.Code(col, kk);
        size_t sb = static_cast<size_t>((tile * w.blocks + b) * kLanes + lane);
        dot -= w.zeros[sb] * sums[b];
        acc = std::fma(static_cast<float>(dot), w.scales[sb], acc);
      }
      y[row * w.n + col] = std::fma(acc, a.scale[row], bias != nullptr ? bias[col] : 0.0f);
    }
  }
}

}  // namespace onnxquant
