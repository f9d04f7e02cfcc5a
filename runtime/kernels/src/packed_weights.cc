#include "packed_weights.h"

namespace onnxquant {

void PackedWeights::Allocate() {
  blocks = (k + block - 1) / block;
  tiles = (n + kLanes - 1) / kLanes;
  data.assign(static_cast<size_t>(tiles * TileBytes()), 0);
  scales.assign(static_cast<size_t>(tiles * blocks * kLanes), 0.0f);
  zeros.assign(static_cast<size_t>(tiles * blocks * kLanes), 0);
}

void PackedWeights::FindUniformZero() {
  uniform_zero = -1;
  if (zeros.empty()) return;
  for (int32_t z : zeros)
    if (z != zeros[0]) return;
  uniform_zero = zeros[0];
}

static size_t ByteIndex(const PackedWeights& w, int64_t col, int64_t kk, bool* high) {
  int64_t tile = col / kLanes, lane = col % kLanes;
  int64_t per = w.nibbles ? 8 : 4;
  *high = w.nibbles && (kk % 8) >= 4;
  return static_cast<size_t>(tile * w.TileBytes() + (kk / per) * kLanes * kGroup + lane * kGroup + kk % 4);
}

void PackedWeights::SetCode(int64_t col, int64_t kk, int code) {
  bool high;
  size_t i = ByteIndex(*this, col, kk, &high);
  if (!nibbles) data[i] = static_cast<uint8_t>(code);
  else if (high) data[i] = static_cast<uint8_t>((data[i] & 0x0F) | (code << 4));
  else data[i] = static_cast<uint8_t>((data[i] & 0xF0) | (code & 0x0F));
}

int PackedWeights::Code(int64_t col, int64_t kk) const {
  bool high;
  size_t i = ByteIndex(*this, col, kk, &high);
  if (!nibbles) return data[i];
  return high ? data[i] >> 4 : data[i] & 0x0F;
}

// The layout loop both MatMulNBits packers share (4-bit and 8-bit differ only in how a zero point and a code are read
// from the source): per column and block, the scale, the zero point and the block's codes in the packed tile order.
template <typename ZeroOf, typename CodeOf>
static PackedWeights PackMatMulNBitsLayout(const float* scales, int64_t k, int64_t n, int64_t block, bool nibbles,
                                           ZeroOf zero_of, CodeOf code_of) {
  PackedWeights w;
  w.n = n;
  w.k = k;
  w.block = block;
  w.nibbles = nibbles;
  w.Allocate();
  for (int64_t col = 0; col < n; col++) {
    for (int64_t blk = 0; blk < w.blocks; blk++) {
      size_t sb = static_cast<size_t>(((col / kLanes) * w.blocks + blk) * kLanes + col % kLanes);
      w.scales[sb] = scales[col * w.blocks + blk];
      w.zeros[sb] = zero_of(col, blk, w.blocks);
      for (int64_t j = 0; j < block; j++) w.SetCode(col, blk * block + j, code_of(col, blk, j, w.blocks));
    }
  }
  w.FindUniformZero();
  return w;
}

PackedWeights PackMatMulNBits(const uint8_t* b, const float* scales, const uint8_t* zero_points, int64_t k, int64_t n,
                              int64_t block) {
  const int64_t blob = block / 2;
  auto zero_of = [zero_points](int64_t col, int64_t blk, int64_t blocks) -> int {
    if (zero_points == nullptr) return 8;
    uint8_t byte = zero_points[col * ((blocks + 1) / 2) + blk / 2];
    return blk % 2 == 0 ? byte & 0x0F : byte >> 4;
  };
  auto code_of = [b, blob](int64_t col, int64_t blk, int64_t j, int64_t blocks) -> int {
    const uint8_t* src = b + (col * blocks + blk) * blob;
    return j % 2 == 0 ? src[j / 2] & 0x0F : src[j / 2] >> 4;
  };
  return PackMatMulNBitsLayout(scales, k, n, block, true, zero_of, code_of);
}

PackedWeights PackMatMulNBits8(const uint8_t* b, const float* scales, const uint8_t* zero_points, int64_t k, int64_t n,
                               int64_t block) {
  auto zero_of = [zero_points](int64_t col, int64_t blk, int64_t blocks) -> int {
    return zero_points != nullptr ? zero_points[col * blocks + blk] : 128;
  };
  auto code_of = [b, block](int64_t col, int64_t blk, int64_t j, int64_t blocks) -> int {
    return b[(col * blocks + blk) * block + j];
  };
  return PackMatMulNBitsLayout(scales, k, n, block, false, zero_of, code_of);
}

PackedWeights PackInt8Weights(const int8_t* wp, const float* scales, int64_t scale_count, int64_t k, int64_t n) {
  PackedWeights w;
  w.n = n;
  w.k = k;
  w.block = (k + kGroup - 1) / kGroup * kGroup;  // one block: the whole row
  w.nibbles = false;
  w.Allocate();
  // Codes are w + 128 (unsigned, what vpdpbusd multiplies) with zero point 128; padding gets the zero point.
  for (int64_t col = 0; col < n; col++) {
    size_t sb = static_cast<size_t>((col / kLanes) * kLanes + col % kLanes);
    w.scales[sb] = scales[scale_count == 1 ? 0 : col];
    w.zeros[sb] = 128;
    for (int64_t kk = 0; kk < w.block; kk++) w.SetCode(col, kk, kk < k ? wp[kk * n + col] + 128 : 128);
  }
  w.FindUniformZero();
  return w;
}

}  // namespace onnxquant
