#include "gpu_layouts.h"

namespace onnxquant {

std::vector<int32_t> UnpackZeroPoints(const uint8_t* zp, int64_t n, int64_t blocks) {
  std::vector<int32_t> zeros(static_cast<size_t>(n * blocks), 8);
  if (zp == nullptr) return zeros;
  const int64_t zrow = (blocks + 1) / 2;
  for (int64_t col = 0; col < n; col++)
    for (int64_t b = 0; b < blocks; b++) {
      uint8_t byte = zp[col * zrow + b / 2];
      zeros[static_cast<size_t>(col * blocks + b)] = b % 2 == 0 ? byte & 0x0F : byte >> 4;
    }
  return zeros;
}

std::vector<uint32_t> Int8ColumnWords(const int8_t* w, int64_t k, int64_t n) {
  const int64_t words = Int8PaddedK(k) / 4;
  std::vector<uint32_t> out(static_cast<size_t>(n * words), 0);
  for (int64_t col = 0; col < n; col++)
    for (int64_t kk = 0; kk < k; kk++)
      out[static_cast<size_t>(col * words + kk / 4)] |= static_cast<uint32_t>(static_cast<uint8_t>(w[kk * n + col]))
                                                        << (8 * (kk % 4));
  return out;
}

std::vector<float> PerColumnScales(const float* scales, int64_t count, int64_t n) {
  std::vector<float> out(static_cast<size_t>(n));
  for (int64_t col = 0; col < n; col++) out[static_cast<size_t>(col)] = scales[count == 1 ? 0 : col];
  return out;
}

}  // namespace onnxquant
