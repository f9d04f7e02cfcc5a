// Host-side repacking of the op inputs into what the CUDA kernels read (done once, like the CPU library's packing
// at session load). Plain C++: the host self-test checks it on machines without a GPU.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace onnxquant {

// MatMulNBits' packed 4-bit zero points [N][⌈blocks/2⌉] (nullptr: all 8) as one int per (column, block), [N][blocks].
std::vector<int32_t> UnpackZeroPoints(const uint8_t* zero_points, int64_t n, int64_t blocks);

// K rounded up to whole 4-code words (the W8A8 kernels' padded K).
inline int64_t Int8PaddedK(int64_t k) { return (k + 3) / 4 * 4; }

// int8 weights w [K][N] (ONNX MatMul's layout) as column words [N][padded_k/4], four consecutive k per word (byte 0
// first), zero past K.
std::vector<uint32_t> Int8ColumnWords(const int8_t* w, int64_t k, int64_t n);

// 1 or N scales as N.
std::vector<float> PerColumnScales(const float* scales, int64_t count, int64_t n);

}  // namespace onnxquant
