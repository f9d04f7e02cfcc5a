// Same order of operations as OnnxQuant.Passes.Numerics.HadamardTransform, so the two agree bit for bit.
#include "hadamard_rows.h"

#include <cmath>
#include <vector>

namespace onnxquant {
namespace {

void Butterflies(float* row, int64_t n) {
  for (int64_t half = 1; half < n; half *= 2)
    for (int64_t block = 0; block < n; block += 2 * half)
      for (int64_t j = 0; j < half; j++) {
        float a = row[block + j], b = row[block + half + j];
        row[block + j] = a + b;
        row[block + half + j] = a - b;
      }
}

}  // namespace

bool IsHadamardOrder(int64_t d, int64_t k) {
  int64_t p = k > 0 && d % k == 0 ? d / k : 0;
  return p > 0 && (p & (p - 1)) == 0;
}

float HadamardScale(int64_t d) { return static_cast<float>(1.0 / std::sqrt(static_cast<double>(d))); }

void HadamardTransformRow(const float* x, float* y, int64_t d, int64_t k, const int8_t* base, bool normalized) {
  const int64_t p = d / k;
  // One work row per thread, kept between calls: the op and the folded matmul prologue call this once per row.
  thread_local std::vector<float> work;
  work.assign(x, x + d);
  for (int64_t s = 0; s < k; s++) Butterflies(work.data() + s * p, p);
  if (k > 1) {
    for (int64_t i = 0; i < k; i++) {
      float* target = y + i * p;
      for (int64_t t = 0; t < p; t++) target[t] = 0.0f;
      for (int64_t j = 0; j < k; j++) {
        const float* source = work.data() + j * p;
        if (base[i * k + j] < 0) for (int64_t t = 0; t < p; t++) target[t] = target[t] - source[t];
        else for (int64_t t = 0; t < p; t++) target[t] = target[t] + source[t];
      }
    }
  } else {
    for (int64_t t = 0; t < d; t++) y[t] = work[t];
  }
  if (normalized) {
    float scale = HadamardScale(d);
    for (int64_t t = 0; t < d; t++) y[t] = y[t] * scale;
  }
}

}  // namespace onnxquant
