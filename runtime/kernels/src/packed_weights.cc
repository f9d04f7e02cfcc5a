#include "packed_weights.h"

namespace onnxquant {

void PackedWeights::Allocate() {
  blocks = (k + block - 1) / block;
  tiles = (n + kLanes - 1) / kLanes;
  data.assign(static_cast<size_t>(tiles * TileBytes()), 0);
  scales.assign(static_cast<size_t>(tiles * blocks * kLanes), 0.0f);
  zeros.assign(static_cast<size_t>(tiles * blocks * kLanes), 0);
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

}  // namespace onnxquant
