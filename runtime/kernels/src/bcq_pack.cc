// BcqMatMul's weight packing (the op's input layout into bcq_weights.h's tiles), free of ONNX Runtime so the CUDA
// harness packs its reference weights with the very code the CPU library uses.
#include "bcq_weights.h"

namespace onnxquant {

BcqWeights PackBcqWeights(const uint8_t* pp, const float* ap, const float* offsets, int64_t k, int64_t n,
                          int64_t plane_count, int64_t block) {
  BcqWeights w;
  w.k = k;
  w.n = n;
  w.planes = plane_count;
  w.block = block;
  w.blocks = (k + block - 1) / block;
  w.groups = (k + 7) / 8;
  w.tiles = (n + kBcqLanes - 1) / kBcqLanes;
  w.has_offsets = offsets != nullptr;
  w.data.assign(static_cast<size_t>(w.tiles * w.groups * w.planes * kBcqLanes), 0);
  w.alphas.assign(static_cast<size_t>(w.tiles * w.blocks * w.planes * kBcqLanes), 0.0f);
  w.offsets.assign(static_cast<size_t>(w.tiles * w.blocks * kBcqLanes), 0.0f);
  for (int64_t col = 0; col < w.n; col++) {
    int64_t tile = col / kBcqLanes, lane = col % kBcqLanes;
    for (int64_t i = 0; i < w.planes; i++)
      for (int64_t g = 0; g < w.groups; g++)
        w.data[static_cast<size_t>(((tile * w.groups + g) * w.planes + i) * kBcqLanes + lane)] = pp[(col * w.planes + i) * w.groups + g];
    for (int64_t b = 0; b < w.blocks; b++) {
      for (int64_t i = 0; i < w.planes; i++)
        w.alphas[static_cast<size_t>(((tile * w.blocks + b) * w.planes + i) * kBcqLanes + lane)] = ap[(col * w.blocks + b) * w.planes + i];
      if (offsets != nullptr) w.offsets[static_cast<size_t>((tile * w.blocks + b) * kBcqLanes + lane)] = offsets[col * w.blocks + b];
    }
  }
  return w;
}

}  // namespace onnxquant
