// The float operations that define BcqMatMul's lookup tables, shared by the CPU library (BuildBcqTables) and the
// CUDA kernels so both build literally the same tables (see bcq_weights.h for the contract).
#pragma once

#include "host_device.h"

namespace onnxquant {

// One half table over 4 activations v[0..3]: t[0] = −v₀ − v₁ − v₂ − v₃ (left to right, from 0), then entry
// t = entry (t − 2^h) + (v_h + v_h) with h the highest bit of t.
ONNXQUANT_HD void BcqHalfTable(const float* v, float* t) {
  float neg = 0.0f;
  for (int j = 0; j < 4; j++) neg = neg - v[j];
  t[0] = neg;
  for (int h = 0; h < 4; h++) {
    const float twice = v[h] + v[h];
    const int half = 1 << h;
    for (int s = 0; s < half; s++) t[half + s] = t[s] + twice;
  }
}

// The plain sum of one group's 8 activations, left to right from 0 (for the offsets term).
ONNXQUANT_HD float BcqGroupSum(const float* v) {
  float sum = 0.0f;
  for (int j = 0; j < 8; j++) sum = sum + v[j];
  return sum;
}

}  // namespace onnxquant
